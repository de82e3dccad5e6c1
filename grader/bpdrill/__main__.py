from bpdrill.cli import main

main()
