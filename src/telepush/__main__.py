from telepush.cli import main

main()
