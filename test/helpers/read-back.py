"""Reads an exported file back with independent tools and prints it as JSON.

usage: read-back.py csv|ndjson|xlsx|parquet FILE
csv: list of records (lists of strings); ndjson: list of objects; xlsx: list of sheets
{name, rows}, each cell as a string (numbers via repr, dates as ISO 8601, empty as None); parquet
(pyarrow, run by the provisioned venv's python): {columns: [{name, type, nullable}], rowGroups,
rows}, each cell as a string (integers and decimals exact, UTC timestamps as
YYYY-MM-DDTHH:MM:SS.ffffffZ), a bool or None.
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
elif kind == 'parquet':
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    table = f.read()

    def value(v):
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, datetime.datetime):
            return v.strftime('%Y-%m-%dT%H:%M:%S.%fZ') if v.utcoffset() == datetime.timedelta(0) else v.isoformat()
        return str(v)

    print(json.dumps({
        'columns': [{'name': fld.name, 'type': str(fld.type), 'nullable': fld.nullable} for fld in table.schema],
        'rowGroups': f.metadata.num_row_groups,
        'rows': [[value(v) for v in row.values()] for row in table.to_pylist()],
    }))
else:
    sys.exit('unknown kind ' + kind)
