<?php
// A slow API call in PHP, for fcgid-concurrency.mjs: the 1 s the Express app awaits.
usleep(1000000);
header('Content-Type: text/plain');
echo 'pid ' . getmypid() . "\n";
