DROP TABLE sb_wsx_link;
