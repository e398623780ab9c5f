<?php
// The shop front of web01: lists the products from the local MySQL database.
$db = mysql_connect('localhost', 'shop', getenv('SHOP_DB_PASSWORD'));
mysql_select_db('shop', $db);
$rows = mysql_query('SELECT name, price FROM products ORDER BY name', $db);
?>
<html>
<head><title>web01 — shop</title></head>
<body>
<h1>Products</h1>
<ul>
<?php while ($row = mysql_fetch_assoc($rows)) { ?>
  <li><?php echo htmlspecialchars($row['name']); ?> — <?php echo number_format($row['price'], 2); ?></li>
<?php } ?>
</ul>
<p>Served by <?php echo php_uname('n'); ?> with PHP <?php echo phpversion(); ?></p>
</body>
</html>
