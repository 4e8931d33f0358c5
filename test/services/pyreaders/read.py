"""Reads one Avro object container file or Parquet file (path argument or
stdin) with fastavro / pyarrow and prints it as one JSON document:
{"format", "codec", "schema", "records"}. Values JSON cannot hold are
rendered as text: bytes as hex, decimals and times with str()/isoformat()."""
import datetime
import decimal
import io
import json
import sys


def plain(v):
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    return v


def read_avro(data):
    import fastavro
    r = fastavro.reader(io.BytesIO(data))
    return {"format": "avro", "codec": r.codec, "schema": r.writer_schema,
            "records": [plain(x) for x in r]}


def read_parquet(data):
    import pyarrow as pa
    import pyarrow.parquet as pq
    f = pq.ParquetFile(pa.BufferReader(data))
    t = f.read()
    md = f.metadata
    codecs = sorted({md.row_group(g).column(c).compression
                     for g in range(md.num_row_groups) for c in range(md.num_columns)})
    return {"format": "parquet", "codec": ",".join(codecs),
            "schema": [[fld.name, str(fld.type), fld.nullable] for fld in t.schema],
            "records": [plain(x) for x in t.to_pylist()]}


def main():
    data = open(sys.argv[1], "rb").read() if len(sys.argv) > 1 else sys.stdin.buffer.read()
    if data[:4] == b"Obj\x01":
        out = read_avro(data)
    elif data[:4] == b"PAR1":
        out = read_parquet(data)
    else:
        sys.exit("neither an Avro container file nor a Parquet file (magic %r)" % data[:4])
    json.dump(out, sys.stdout, sort_keys=True)


main()
