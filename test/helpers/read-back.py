"""Reads an exported file back with independent tools and prints it as JSON.

usage: read-back.py csv|ndjson|xlsx FILE
csv: list of records (lists of strings); ndjson: list of objects; xlsx: list of sheets
{name, rows}, each cell as a string (numbers via repr, dates as ISO 8601, empty as None).
"""
import csv
import datetime
import json
import sys

kind, path = sys.argv[1], sys.argv[2]
if kind == 'csv':
    with open(path, newline='', encoding='utf-8') as f:
        data = f.read()
    bom = data.startswith('\ufeff')
    print(json.dumps({'bom': bom, 'rows': list(csv.reader(data.lstrip('\ufeff').splitlines(True)))}))
elif kind == 'ndjson':
    with open(path, encoding='utf-8') as f:
        print(json.dumps([json.loads(line) for line in f.read().split('\n') if line != '']))
elif kind == 'xlsx':
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)

    def cell(v):
        if v is None:
            return None
        if isinstance(v, datetime.datetime):
            return v.isoformat(sep=' ')
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    print(json.dumps([{'name': ws.title, 'rows': [[cell(v) for v in r] for r in ws.iter_rows(values_only=True)]} for ws in wb.worksheets]))
else:
    sys.exit('unknown kind ' + kind)
