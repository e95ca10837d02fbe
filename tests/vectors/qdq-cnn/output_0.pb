
BlogitsJ(€Ã)¾e.¿>³Úž¾Q4?Lsm<=8>h›½ü;?ßW<ªAK¾