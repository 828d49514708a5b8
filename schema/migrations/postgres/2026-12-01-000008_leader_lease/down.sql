DROP TABLE sb_leader_lease;
