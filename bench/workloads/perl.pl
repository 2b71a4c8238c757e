# Big hashes and string building.
my %h;
for my $i (1 .. 500000) { $h{"k$i" . ("y" x ($i % 13))} = [$i, "v$i"]; }
my $n = 0;
for my $k (sort keys %h) { $n += length($k) + $h{$k}[0] % 7; }
my @a = map { join(",", $_, $_ * 2) } 1 .. 200000;
print scalar(keys %h), " $n ", scalar(@a), "\n";
