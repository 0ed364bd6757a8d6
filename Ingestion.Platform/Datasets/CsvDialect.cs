using System.Globalization;
using System.Text.Json.Serialization;

namespace Ingestion.Platform.Datasets;

/// <summary>
/// How a dataset's CSV files are written: a partner's export settings, declared once on the dataset
/// and overridable per upload. Built only through <see cref="CsvDialectRules"/>, so every value in it
/// has been checked.
/// </summary>
/// <param name="Delimiter">Between fields: <c>,</c> <c>;</c> tab or <c>|</c>.</param>
/// <param name="Quote">Opens and closes a quoted field (RFC 4180: a doubled quote inside is one quote); null: no quoting.</param>
/// <param name="Escape">
/// Makes the next character ordinary text (<c>a\;b</c> is <c>a;b</c>); set only when <paramref name="Quote"/> is null,
/// since the reader supports either RFC 4180 quoting or escaping, not both in one file.
/// </param>
/// <param name="Header">Whether the first line names the fields.</param>
/// <param name="Fields">Without a header: the file's fields in order, each a column name, or empty for a field to ignore.</param>
/// <param name="NullMarkers">Values that mean NULL besides the empty field, matched exactly (<c>NULL</c>, <c>\N</c>).</param>
/// <param name="DecimalSeparator">In numbers: <c>.</c> or <c>,</c>.</param>
/// <param name="ThousandsSeparator">Groups digits in numbers (<c>1.234.567,89</c>); null: no grouping.</param>
/// <param name="TimeZone">An IANA zone that timestamps without an offset are in; null: UTC.</param>
/// <param name="Encoding">
/// <c>utf-8</c> (with or without a byte order mark), <c>windows-1252</c> or <c>iso-8859-1</c>. A file that starts with a UTF-16
/// byte order mark is read as UTF-16 whatever this says.
/// </param>
public sealed record CsvDialect(
    char Delimiter = ',',
    char? Quote = '"',
    char? Escape = null,
    bool Header = true,
    IReadOnlyList<string>? Fields = null,
    IReadOnlyList<string>? NullMarkers = null,
    char DecimalSeparator = '.',
    char? ThousandsSeparator = null,
    string? TimeZone = null,
    string Encoding = CsvDialectRules.Utf8)
{
    public static readonly CsvDialect Default = new();

    // The computed properties below are for the reader, not part of the dialect: they are left out of the dataset and job
    // views and of the stored JSON (a whole TimeZoneInfo, host-dependent, looked up at every serialization).

    /// <summary>The zone of <see cref="TimeZone"/>, or null for UTC.</summary>
    [JsonIgnore]
    public TimeZoneInfo? Zone => TimeZone is null ? null : TimeZoneInfo.FindSystemTimeZoneById(TimeZone);

    /// <summary>Whether numbers are written other than as plain <c>-1234.56</c>.</summary>
    [JsonIgnore]
    public bool LocalNumbers => DecimalSeparator != '.' || ThousandsSeparator is not null;

    /// <summary>
    /// Whether record boundaries can be found by scanning for quotes and line breaks alone (RFC 4180 quoting or none, and a
    /// header that ends before the first boundary), which cutting a file into chunks needs. Whether the file's bytes can be
    /// cut where its text is (its encoding and compression) is the worker's to say (<c>TextChunkScan.Cuts</c>).
    /// </summary>
    [JsonIgnore]
    public bool Splittable => Escape is null && Header;
}

/// <summary>
/// What a dialect may be, checked field by field at registration and at upload; every violation is reported,
/// keyed by the field it concerns (<c>dialect.delimiter</c> on a dataset, <c>delimiter</c> on an upload).
/// </summary>
public static class CsvDialectRules
{
    public const int MaxNullMarkers = 8;
    public const int MaxNullMarkerLength = 32;

    /// <summary>Timestamps written as whole seconds since 1970-01-01T00:00:00Z.</summary>
    public const string UnixSeconds = "unix_seconds";

    /// <summary>Timestamps written as whole milliseconds since 1970-01-01T00:00:00Z.</summary>
    public const string UnixMilliseconds = "unix_milliseconds";

    public const string Utf8 = "utf-8";
    public const string Windows1252 = "windows-1252";
    public const string Latin1 = "iso-8859-1";

    /// <summary>The names an upload may override, as query parameters or form fields.</summary>
    public static readonly IReadOnlyList<string> UploadOptions =
        ["delimiter", "quote", "escape", "header", "fields", "nullMarkers", "decimalSeparator", "thousandsSeparator", "timeZone", "encoding"];

    /// <summary>A dialect as a request spells it: every member optional, falling back to a base dialect.</summary>
    public sealed record DialectRequest(
        string? Delimiter = null,
        string? Quote = null,
        string? Escape = null,
        bool? Header = null,
        IReadOnlyList<string?>? Fields = null,
        IReadOnlyList<string?>? NullMarkers = null,
        string? DecimalSeparator = null,
        string? ThousandsSeparator = null,
        string? TimeZone = null,
        string? Encoding = null);

    /// <summary>
    /// An upload's overrides as they arrive in a query string or a form: single strings, lists comma-separated
    /// (<c>fields=account_id,,amount</c>, <c>nullMarkers=NULL,\N</c>). Null when no option is given. A value
    /// that is not even of the right shape (a header that is not true/false) is an error here.
    /// </summary>
    public static DialectRequest? FromStrings(IReadOnlyDictionary<string, string> values, Action<string, string> error)
    {
        if (!UploadOptions.Any(values.ContainsKey))
        {
            return null;
        }

        bool? header = null;
        if (values.TryGetValue("header", out var headerText))
        {
            if (bool.TryParse(headerText, out var parsed))
            {
                header = parsed;
            }
            else
            {
                error("header", "must be true or false.");
            }
        }

        static IReadOnlyList<string?>? List(IReadOnlyDictionary<string, string> values, string name) =>
            values.TryGetValue(name, out var text) ? text.Split(',').Select(s => (string?)s.Trim()).ToList() : null;

        return new DialectRequest(
            values.GetValueOrDefault("delimiter"),
            values.GetValueOrDefault("quote"),
            values.GetValueOrDefault("escape"),
            header,
            List(values, "fields"),
            List(values, "nullMarkers"),
            values.GetValueOrDefault("decimalSeparator"),
            values.GetValueOrDefault("thousandsSeparator"),
            values.GetValueOrDefault("timeZone"),
            values.GetValueOrDefault("encoding"));
    }

    /// <summary>
    /// The dialect <paramref name="request"/> describes on top of <paramref name="basis"/>, for a dataset with
    /// <paramref name="columns"/>, or null with errors reported through <paramref name="error"/> under
    /// <paramref name="prefix"/>. Without <paramref name="combinations"/>, only what is wrong with an option on its own is
    /// an error, not how it goes with the others (a quote equal to the delimiter, no header and no fields): for a request
    /// that other options may still complete, such as an upload's query string before its form has been read.
    /// </summary>
    public static CsvDialect? Apply(DialectRequest? request, CsvDialect basis, IReadOnlyList<DatasetColumn> columns, string prefix,
        Action<string, string> error, bool combinations = true)
    {
        var failed = false;
        void Error(string field, string message)
        {
            failed = true;
            error(prefix + field, message);
        }

        if (request is null)
        {
            return basis;
        }

        var delimiter = basis.Delimiter;
        if (request.Delimiter is { } delimiterText)
        {
            var d = delimiterText is "tab" or "\\t" ? "\t" : delimiterText;
            if (d is not ("," or ";" or "\t" or "|"))
            {
                Error("delimiter", "must be ',', ';', tab ('\\t' or 'tab') or '|'.");
            }
            else
            {
                delimiter = d[0];
            }
        }

        var quote = basis.Quote;
        var escape = basis.Escape;
        if (request.Quote is { } quoteText)
        {
            if (quoteText is "none" or "")
            {
                quote = null;
            }
            else if (quoteText.Length != 1 || !IsMark(quoteText[0]))
            {
                Error("quote", "must be one printable ASCII character other than a letter, digit or space, or 'none'.");
            }
            else
            {
                quote = quoteText[0];
                escape = null;
            }
        }

        if (request.Escape is { } escapeText)
        {
            if (escapeText is "none" or "")
            {
                escape = null;
            }
            else if (escapeText.Length != 1 || !IsMark(escapeText[0]))
            {
                Error("escape", "must be one printable ASCII character other than a letter, digit or space, or 'none'.");
            }
            else if (combinations && request.Quote is not (null or "none" or ""))
            {
                Error("escape", "cannot be combined with a quote: a file is read with RFC 4180 quoting (a doubled quote is a quote) or with an escape character and no quoting; set quote to 'none'.");
            }
            else
            {
                escape = escapeText[0];
                quote = null;
            }
        }

        if (combinations && quote == delimiter)
        {
            Error("quote", "must differ from the delimiter.");
        }

        if (combinations && escape == delimiter)
        {
            Error("escape", "must differ from the delimiter.");
        }

        var header = request.Header ?? basis.Header;
        var fields = basis.Fields;
        if (request.Fields is { } requestedFields)
        {
            fields = CheckFields(requestedFields, columns, prefix + "fields", ref failed, error);
        }

        if (combinations && !header && fields is null)
        {
            Error("fields", "must list the file's fields in order when the file has no header.");
        }

        if (combinations && header && request.Fields is not null)
        {
            Error("fields", "is only for files without a header (header: false); a header names the fields itself.");
        }

        var nullMarkers = basis.NullMarkers;
        if (request.NullMarkers is { } markers)
        {
            var kept = markers.Where(m => !string.IsNullOrEmpty(m)).Select(m => m!).Distinct(StringComparer.Ordinal).ToList();
            if (kept.Count > MaxNullMarkers)
            {
                Error("nullMarkers", $"may list at most {MaxNullMarkers} markers.");
            }

            foreach (var marker in kept.Where(m => m.Length > MaxNullMarkerLength || m.Any(char.IsControl)))
            {
                Error("nullMarkers", $"'{Shorten(marker)}' is not a marker: at most {MaxNullMarkerLength} characters, none of them a control character.");
            }

            nullMarkers = kept.Count == 0 ? null : kept;
        }

        var decimalSeparator = basis.DecimalSeparator;
        if (request.DecimalSeparator is { } decimalText)
        {
            if (decimalText is not ("." or ","))
            {
                Error("decimalSeparator", "must be '.' or ','.");
            }
            else
            {
                decimalSeparator = decimalText[0];
            }
        }

        var thousands = basis.ThousandsSeparator;
        if (request.ThousandsSeparator is { } thousandsText)
        {
            if (thousandsText is "none" or "")
            {
                thousands = null;
            }
            else if (thousandsText is not ("," or "." or " " or "'" or "_"))
            {
                Error("thousandsSeparator", "must be ',', '.', ' ', ''', '_' or 'none'.");
            }
            else
            {
                thousands = thousandsText[0];
            }
        }

        if (combinations && thousands == decimalSeparator)
        {
            Error("thousandsSeparator", $"must differ from the decimal separator '{decimalSeparator}'.");
        }

        var timeZone = basis.TimeZone;
        if (request.TimeZone is { } zone)
        {
            if (zone is "" or "UTC")
            {
                timeZone = null;
            }
            else if (!TimeZoneInfo.TryFindSystemTimeZoneById(zone, out _) || !zone.Contains('/'))
            {
                Error("timeZone", $"'{Shorten(zone)}' is not a time zone; use an IANA name such as Europe/Zurich, or UTC.");
            }
            else
            {
                timeZone = zone;
            }
        }

        var encoding = basis.Encoding;
        if (request.Encoding is { } encodingText)
        {
            var name = encodingText.Trim().ToLowerInvariant();
            encoding = name switch
            {
                "utf-8" or "utf8" => Utf8,
                "windows-1252" or "cp1252" => Windows1252,
                "iso-8859-1" or "latin1" or "latin-1" => Latin1,
                _ => null!,
            };
            if (encoding is null)
            {
                // Declaring UTF-16 would read a file without its mark as UTF-8 and show utf-8 on the job: refused instead.
                Error("encoding", name.StartsWith("utf-16", StringComparison.Ordinal) || name.StartsWith("utf16", StringComparison.Ordinal)
                    ? "cannot be declared as UTF-16: a UTF-16 file is recognised by its byte order mark (FF FE or FE FF at its start), whatever the encoding says; send it with its mark, or as utf-8."
                    : "must be utf-8, windows-1252 or iso-8859-1 (UTF-16 is recognised by its byte order mark).");
            }
        }

        return failed
            ? null
            : new CsvDialect(delimiter, quote, escape, header, fields, nullMarkers, decimalSeparator, thousands, timeZone, encoding!);
    }

    /// <summary>
    /// Checks a column's parse format: for a date, a .NET custom format with a day, month and year (<c>dd.MM.yyyy</c>); for a
    /// timestamp, one with a date and a time (<c>MM/dd/yyyy HH:mm</c>), or <see cref="UnixSeconds"/> / <see cref="UnixMilliseconds"/>.
    /// </summary>
    public static string? CheckFormat(ColumnType type, string format)
    {
        if (type.Kind is not (ColumnKind.Date or ColumnKind.TimestampTz))
        {
            return "is only for date and timestamptz columns; numbers follow the dialect's decimalSeparator and thousandsSeparator.";
        }

        if (format is UnixSeconds or UnixMilliseconds)
        {
            return type.Kind == ColumnKind.TimestampTz ? null : $"'{format}' is only for timestamptz columns.";
        }

        if (format.Length is 0 or > 64 || format.Any(char.IsControl))
        {
            return "must be a date format such as dd.MM.yyyy, at most 64 characters.";
        }

        // A format that cannot write and read back a sample exactly misses a part (a year, a month) or is no format at all.
        var sample = new DateTime(1987, 11, 23, 13, 45, 30, DateTimeKind.Unspecified);
        try
        {
            var written = sample.ToString(format, CultureInfo.InvariantCulture);
            var readBack = DateTime.TryParseExact(written, format, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var parsed);
            var whole = type.Kind == ColumnKind.Date ? parsed.Date == sample.Date : parsed.Date == sample.Date && parsed.Hour == 13;
            if (!readBack || !whole)
            {
                return type.Kind == ColumnKind.Date
                    ? $"'{Shorten(format)}' does not name a whole date (day, month and year), as in dd.MM.yyyy."
                    : $"'{Shorten(format)}' does not name a date and an hour, as in MM/dd/yyyy HH:mm, and cannot be read back; or use {UnixSeconds} or {UnixMilliseconds}.";
            }
        }
        catch (FormatException)
        {
            return $"'{Shorten(format)}' is not a valid date format.";
        }

        return null;
    }

    private static List<string>? CheckFields(IReadOnlyList<string?> requested, IReadOnlyList<DatasetColumn> columns, string field,
        ref bool failed, Action<string, string> error)
    {
        var names = requested.Select(n => (n ?? "").Trim()).ToList();
        var problems = new List<string>();
        if (names.Count == 0 || names.All(n => n.Length == 0))
        {
            problems.Add("must name at least one column.");
        }

        if (names.Count > DatasetRules.MaxColumns * 2)
        {
            problems.Add($"may list at most {DatasetRules.MaxColumns * 2} fields.");
        }

        var known = columns.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        problems.AddRange(names.Where(n => n.Length > 0 && !known.Contains(n)).Distinct()
            .Select(n => $"'{Shorten(n)}' is not a column of the dataset."));
        problems.AddRange(names.Where(n => n.Length > 0).GroupBy(n => n).Where(g => g.Count() > 1)
            .Select(g => $"'{g.Key}' appears more than once."));
        var missing = columns.Where(c => c.Required && !names.Contains(c.Name)).Select(c => c.Name).ToList();
        if (missing.Count > 0)
        {
            problems.Add($"lacks required column{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)}.");
        }

        foreach (var problem in problems)
        {
            error(field, problem);
        }

        failed |= problems.Count > 0;
        return problems.Count > 0 ? null : names;
    }

    /// <summary>Quote and escape characters: visible ASCII punctuation, never something a value is made of.</summary>
    private static bool IsMark(char c) => c is > ' ' and < (char)127 && !char.IsLetterOrDigit(c);

    private static string Shorten(string text) => text.Length > 40 ? text[..40] + "…" : text;
}
