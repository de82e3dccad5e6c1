from bpdrill.launch import main

main()
