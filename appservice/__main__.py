from appservice.cli import main

main()
