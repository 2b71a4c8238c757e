# flamenodes.py PAGE.html: every node of a `report --format flame` page, "name TAB whole name
# (what the tooltip shows) TAB values" per line. For tests/e2e/names.sh.
import json, re, sys
t = open(sys.argv[1]).read()
d = json.loads(re.search(r'const DATA=(\{.*?\});\nconst H=', t, re.S).group(1).replace('title:', '"title":', 1)
               .replace(',def:', ',"def":', 1).replace(',types:', ',"types":', 1).replace(',units:', ',"units":', 1)
               .replace(',tree:', ',"tree":', 1))
def walk(n):
    print('%s\t%s\t%s' % (n[0], n[3] if len(n) > 3 else n[0], ','.join('%d' % v for v in n[1])))
    for c in n[2]: walk(c)
walk(d['tree'])
