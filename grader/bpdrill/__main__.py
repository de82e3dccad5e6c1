from bpdrill.cli.main import main

main()
