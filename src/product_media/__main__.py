from product_media.cli import main

main()
