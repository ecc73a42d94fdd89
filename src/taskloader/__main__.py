from taskloader.cli import main

main()
