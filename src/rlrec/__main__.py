from rlrec.cli.main import main

main()
