DROP TABLE sb_wsx_channel;
