"""Reports made from trap records, free of pytest: gap tables, the JSON report, exports."""
