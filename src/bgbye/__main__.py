from bgbye.cli import main

main()
