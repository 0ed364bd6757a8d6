using System.Globalization;
using Ingestion.Platform.Datasets;
using NpgsqlTypes;

namespace Ingestion.Api.Reads;

/// <summary>
/// Values of a typed column as a query string spells them: the same spellings an upload
/// accepts (ISO 8601 timestamps, <c>YYYY-MM-DD</c> dates, plain decimals, true/false), parsed
/// into the CLR type that is bound as the parameter, and written back canonically for cursors.
/// </summary>
public static class ColumnValues
{
    private static readonly string[] TimestampFormats =
    [
        "yyyy-MM-dd", "yyyy-MM-ddTHH:mm", "yyyy-MM-ddTHH:mm:ss", "yyyy-MM-ddTHH:mm:ss.FFFFFFF",
        "yyyy-MM-ddTHH:mmzzz", "yyyy-MM-ddTHH:mm:sszzz", "yyyy-MM-ddTHH:mm:ss.FFFFFFFzzz",
        "yyyy-MM-ddTHH:mmK", "yyyy-MM-ddTHH:mm:ssK", "yyyy-MM-ddTHH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFFF", "yyyy-MM-dd HH:mm:sszzz", "yyyy-MM-dd HH:mm:ss.FFFFFFFzzz",
        "yyyy-MM-dd HH:mm:ss.FFFFFFFz", "yyyy-MM-dd HH:mm:ssz",
    ];

    /// <summary>Parses <paramref name="text"/> as a value of <paramref name="type"/>; null with the reason when it is not one.</summary>
    public static object? TryParse(ColumnType type, string text, out string? error)
    {
        error = null;
        switch (type.Kind)
        {
            case ColumnKind.Text or ColumnKind.Char or ColumnKind.Varchar:
                if (type.MaxChars is { } max && text.Length > max)
                {
                    error = $"is {text.Length} characters long; {type.ToSql()} holds at most {max}";
                    return null;
                }

                return text;
            case ColumnKind.Integer when int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i):
                return i;
            case ColumnKind.BigInt when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l):
                return l;
            case ColumnKind.Numeric when decimal.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint,
                CultureInfo.InvariantCulture, out var d):
                return d;
            case ColumnKind.Boolean:
                switch (text.ToLowerInvariant())
                {
                    case "true" or "t" or "yes" or "y" or "1":
                        return true;
                    case "false" or "f" or "no" or "n" or "0":
                        return false;
                }

                break;
            case ColumnKind.Date when DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None,
                out var date):
                return date;
            case ColumnKind.TimestampTz when DateTimeOffset.TryParseExact(text, TimestampFormats, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal, out var at):
                return at.UtcDateTime;
            case ColumnKind.Uuid when Guid.TryParseExact(text, "D", out var g) || Guid.TryParseExact(text, "N", out g):
                return g;
        }

        error = type.Kind switch
        {
            ColumnKind.Integer or ColumnKind.BigInt => $"is not an integer of {type.ToSql()}",
            ColumnKind.Numeric => "is not a number",
            ColumnKind.Boolean => "is not a boolean (true/false)",
            ColumnKind.Date => "is not a date (YYYY-MM-DD)",
            ColumnKind.TimestampTz => "is not a timestamp (ISO 8601, e.g. 2026-05-01T13:45:00Z)",
            ColumnKind.Uuid => "is not a UUID",
            _ => "is not a valid value",
        };
        error += $": '{Shorten(text)}'";
        return null;
    }

    /// <summary>The value as <see cref="TryParse"/> reads it back, exactly (timestamps to the tick, in UTC).</summary>
    public static string Format(object value) => value switch
    {
        DateTime at => at.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFK", CultureInfo.InvariantCulture),
        DateOnly date => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        Guid g => g.ToString("D"),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    public static NpgsqlDbType DbType(ColumnType type) => type.Kind switch
    {
        ColumnKind.Text => NpgsqlDbType.Text,
        ColumnKind.Char => NpgsqlDbType.Char,
        ColumnKind.Varchar => NpgsqlDbType.Varchar,
        ColumnKind.Integer => NpgsqlDbType.Integer,
        ColumnKind.BigInt => NpgsqlDbType.Bigint,
        ColumnKind.Numeric => NpgsqlDbType.Numeric,
        ColumnKind.Boolean => NpgsqlDbType.Boolean,
        ColumnKind.Date => NpgsqlDbType.Date,
        ColumnKind.TimestampTz => NpgsqlDbType.TimestampTz,
        ColumnKind.Uuid => NpgsqlDbType.Uuid,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, "No parameter type for this column."),
    };

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..60] + "…";
}
