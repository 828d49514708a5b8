DROP TABLE sb_file_channel;
