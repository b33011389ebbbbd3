from rlrec.cli import main

main()
