"""The `rlrec` command, one module per command group; `main` holds the root and the entry point
(`rlrec.cli.main:main`).

    main        the root, --quiet/--version, errors as one line with exit status 2
    options     the shared -c/--config option, overrides, the experiment config, checks
    data        rlrec data list|fetch|info|prepare
    config      rlrec config show
    worldmodel  rlrec worldmodel train
    demos       rlrec demos import-billp|generate [--ray]
    ilrec       rlrec ilrec train|evaluate, rlrec baselines train, rlrec evaluate
    experiment  rlrec experiment ilrec|marco
    marco       rlrec marco run
    serve       rlrec export, rlrec serve
    sweep       rlrec sweep [--ray]
    bench       rlrec bench marco|env|ilrec|llm|serve
    report      rlrec report, rlrec compare, rlrec quickstart
"""
