using System.Text;
using System.Text.Json;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Sources;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Npgsql;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// Turns one JSON record into one typed row of the dataset, through the same column codecs as
/// CSV uploads, so a record is checked whole before any of it is written. JSON values are coerced
/// to their column: a number or a string fits a text or numeric column; a timestamp column takes
/// ISO 8601 strings and Unix seconds or milliseconds (numbers or digit strings), mixed in one
/// response (seed 004); an object or array fits only a text column, as its JSON.
/// </summary>
internal sealed class RecordMapper
{
    private readonly Column[] _columns;
    private readonly RowValues _values;
    private readonly byte[]?[] _fields;
    private readonly int[] _lengths;
    private readonly int _markSlot = -1;

    public RecordMapper(DatasetDefinition dataset, SourceRecords records, string? markColumn)
    {
        _columns = records.Fields
            .Select(f => (Column: dataset.Column(f.Key) ?? throw new InvalidOperationException($"Column {f.Key} is not in dataset {dataset.Name}."), Path: f.Value))
            .Select(c => new Column(c.Column, JsonPath.Parse(c.Path), ColumnCodec.For(c.Column.Type)))
            .ToArray();
        _values = new RowValues(_columns.Length);
        _fields = new byte[]?[_columns.Length];
        _lengths = new int[_columns.Length];
        if (markColumn is not null)
        {
            _markSlot = Array.FindIndex(_columns, c => string.Equals(c.Definition.Name, markColumn, StringComparison.OrdinalIgnoreCase));
        }

        ColumnNames = _columns.Select(c => c.Definition.Name).ToList();
        if (dataset.Name == BuiltInDatasets.Transactions.Name)
        {
            AccountSlot = Array.FindIndex(_columns, c => c.Definition.Name == BuiltInDatasets.AccountColumn);
        }
    }

    /// <summary>Where the account id is among a row's values, for the accounts' change counters; -1 when not loading transactions.</summary>
    public int AccountSlot { get; } = -1;

    /// <summary>The account of the record <see cref="Check"/> accepted last (<see cref="AccountSlot"/> must be set).</summary>
    public long Account => _values.Integers[AccountSlot];

    /// <summary>The dataset's columns the rows fill, in the order <see cref="Write"/> writes them.</summary>
    public IReadOnlyList<string> ColumnNames { get; }

    /// <summary>The incremental column's value of the record <see cref="Check"/> accepted last.</summary>
    public DateTime? Mark => _markSlot >= 0 && !_values.Nulls[_markSlot] ? _values.Timestamps[_markSlot] : null;

    /// <summary>Null when the record fits; otherwise the column and the reason.</summary>
    public (string Column, string Reason)? Check(JsonElement record)
    {
        if (record.ValueKind != JsonValueKind.Object)
        {
            return ("", $"is a JSON {record.ValueKind.ToString().ToLowerInvariant()}, not an object");
        }

        for (var i = 0; i < _columns.Length; i++)
        {
            var column = _columns[i];
            if (!column.Path.TrySelect(record, out var value))
            {
                if (column.Definition.Required)
                {
                    return (column.Definition.Name, $"is required but {column.Path} is missing or null");
                }

                _values.Nulls[i] = true;
                continue;
            }

            _values.Nulls[i] = false;
            if (Parse(i, value) is { } problem)
            {
                return (column.Definition.Name, problem);
            }
        }

        return null;
    }

    /// <summary>Writes the row that <see cref="Check"/> accepted last.</summary>
    public void Write(NpgsqlBinaryImporter importer)
    {
        for (var i = 0; i < _columns.Length; i++)
        {
            if (_values.Nulls[i])
            {
                importer.WriteNull();
            }
            else
            {
                _columns[i].Codec.Write(importer, _fields[i].AsSpan(0, _lengths[i]), _values, i);
            }
        }
    }

    /// <summary>Writes the row that <see cref="Check"/> accepted last, straight into an upload's COPY (JSON Lines files).</summary>
    public void Write(BinaryCopyRows rows)
    {
        for (var i = 0; i < _columns.Length; i++)
        {
            if (_values.Nulls[i])
            {
                rows.WriteNull();
            }
            else
            {
                _columns[i].Codec.Write(rows, _fields[i].AsSpan(0, _lengths[i]), _values, i);
            }
        }
    }

    private string? Parse(int slot, JsonElement value)
    {
        var kind = _columns[slot].Definition.Type.Kind;
        if (kind == ColumnKind.TimestampTz && RecordTimes.IsUnixTime(value, out var unix))
        {
            if (unix is null)
            {
                return $"is not a Unix time in range: {value.GetRawText()}";
            }

            _values.Timestamps[slot] = unix.Value;
            _lengths[slot] = 0;
            return null;
        }

        string text;
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                if (!JsonText.TryGetString(value, out var unescaped, out var unreadable))
                {
                    return unreadable;
                }

                text = unescaped;
                if (text.Contains('\0'))
                {
                    return "contains a NUL character, which PostgreSQL text cannot hold";
                }

                break;
            case JsonValueKind.Number:
            case JsonValueKind.True:
            case JsonValueKind.False:
                text = value.GetRawText();
                break;
            default:
                if (kind is not (ColumnKind.Text or ColumnKind.Varchar or ColumnKind.Char))
                {
                    return $"is a JSON {value.ValueKind.ToString().ToLowerInvariant()}, not a {_columns[slot].Definition.Type.ToSql()}";
                }

                if (!JsonText.TryGetRawText(value, out var json, out var invalid))
                {
                    return invalid;
                }

                text = json;
                break;
        }

        var length = Encoding.UTF8.GetByteCount(text);
        if (_fields[slot] is not { } buffer || buffer.Length < length)
        {
            _fields[slot] = buffer = new byte[Math.Max(length, 64)];
        }

        _lengths[slot] = Encoding.UTF8.GetBytes(text, buffer);
        return _columns[slot].Codec.Parse(buffer.AsSpan(0, length), _values, slot);
    }

    private sealed record Column(DatasetColumn Definition, JsonPath Path, ColumnCodec Codec);
}
