DROP TABLE sb_service;
