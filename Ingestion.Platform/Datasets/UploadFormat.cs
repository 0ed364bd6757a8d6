using Ingestion.Platform.Sources;

namespace Ingestion.Platform.Datasets;

/// <summary>
/// The file formats an upload may be in, declared on the dataset as its default and overridable per upload (the
/// <c>format</c> query parameter or form field). The worker reads each through its own record source; the CSV dialect
/// applies to CSV only.
/// </summary>
public static class UploadFormat
{
    public const string Csv = "csv";

    /// <summary>JSON Lines: one JSON object per line, UTF-8 (or UTF-16 by its byte order mark); columns fed by JSON paths.</summary>
    public const string JsonLines = "jsonl";

    public const string Parquet = "parquet";

    /// <summary>The upload option (query parameter or form field) that declares an upload's format.</summary>
    public const string Option = "format";

    public static readonly IReadOnlyList<string> All = [Csv, JsonLines, Parquet];

    /// <summary>The format <paramref name="text"/> names (any case, <c>ndjson</c> for JSON Lines), or null with why not.</summary>
    public static string? Parse(string? text, out string problem)
    {
        problem = "";
        var name = text?.Trim().ToLowerInvariant();
        switch (name)
        {
            case Csv or JsonLines or Parquet:
                return name;
            case "ndjson" or "json-lines":
                return JsonLines;
            default:
                problem = $"must be {string.Join(", ", All.Select(f => $"'{f}'"))}.";
                return null;
        }
    }

    /// <summary>The file name extension of a format, without compression.</summary>
    public static string Extension(string format) => format switch
    {
        JsonLines => ".jsonl",
        Parquet => ".parquet",
        _ => ".csv",
    };

    /// <summary>
    /// The S3 key of an upload: its format's extension, then its compression's when its first bytes are gzip's or zstd's
    /// magic (<c>.csv.gz</c>, <c>.jsonl.zst</c>), so an operator who finds the object can tell what it is from its name.
    /// </summary>
    public static string KeyFor(string tenantId, Guid jobId, string format, ReadOnlySpan<byte> head)
    {
        var compression = CompressionMagic.Of(head) switch
        {
            SourceCompression.Gzip => ".gz",
            SourceCompression.Zstd => ".zst",
            _ => "",
        };
        return $"uploads/{tenantId}/{jobId:N}{Extension(format)}{compression}";
    }

    /// <summary>
    /// The JSON path that feeds <paramref name="column"/> in a JSON Lines file: its source when that is a path
    /// (<c>$.payload.amount</c>), the top-level field its source names (<c>amount</c>), or else the top-level field of its
    /// name. Null with why not when the source is neither a path nor a plain field name.
    /// </summary>
    public static JsonPath? JsonPathOf(DatasetColumn column, out string problem)
    {
        var text = column.Source is null ? "$." + column.Name
            : column.Source.StartsWith('$') ? column.Source
            : "$." + column.Source;
        if (JsonPath.TryParse(text, out var path, out problem))
        {
            return path;
        }

        problem = column.Source is { } source && !source.StartsWith('$')
            ? $"'{source}' is neither a JSON path ($.payload.amount) nor a top-level field name of letters, digits, '_' and '-', as a JSON Lines file needs."
            : problem;
        return null;
    }

    /// <summary>
    /// Whether the dataset's columns can be read from a file of <paramref name="format"/>: for JSON Lines every column's
    /// source must be a JSON path or a field name. Each problem goes to <paramref name="error"/>, keyed by the column.
    /// </summary>
    public static bool Fits(string format, IReadOnlyList<DatasetColumn> columns, Action<int, string> error)
    {
        if (format != JsonLines)
        {
            return true;
        }

        var fits = true;
        for (var i = 0; i < columns.Count; i++)
        {
            if (JsonPathOf(columns[i], out var problem) is null)
            {
                error(i, problem);
                fits = false;
            }
        }

        return fits;
    }
}
