<?php
// Hello world for php-fpm, what shared hosts run.
header('Content-Type: text/plain');
echo "Hello, world!\n";
