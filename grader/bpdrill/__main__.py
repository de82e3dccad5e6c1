from bpdrill.cli.launch import main

main()
