DROP TABLE sb_sub_owner;
DROP TABLE sb_cluster_node;
