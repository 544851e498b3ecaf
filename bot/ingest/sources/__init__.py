"""Sources that write into the corpus folder: each turns what it reads (a Telegram channel's posts) into files."""
