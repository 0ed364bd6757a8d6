using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Ingestion.Platform.Datasets;

public enum ColumnKind
{
    Text,
    Char,
    Varchar,
    Integer,
    BigInt,
    Numeric,
    Boolean,
    Date,
    TimestampTz,
    Uuid,
}

/// <summary>
/// A column's PostgreSQL type, written as in SQL: <c>text</c>, <c>char(3)</c>,
/// <c>varchar(100)</c>, <c>integer</c>, <c>bigint</c>, <c>numeric(14,2)</c>, <c>numeric</c>,
/// <c>boolean</c>, <c>date</c>, <c>timestamptz</c>, <c>uuid</c>.
/// </summary>
[JsonConverter(typeof(ColumnTypeJsonConverter))]
public sealed partial record ColumnType(ColumnKind Kind, int? Length = null, int? Precision = null, int? Scale = null)
{
    public const int MaxLength = 10_485_760;
    public const int MaxPrecision = 1000;

    public static readonly ColumnType Text = new(ColumnKind.Text);
    public static readonly ColumnType Integer = new(ColumnKind.Integer);
    public static readonly ColumnType BigInt = new(ColumnKind.BigInt);
    public static readonly ColumnType Boolean = new(ColumnKind.Boolean);
    public static readonly ColumnType Date = new(ColumnKind.Date);
    public static readonly ColumnType TimestampTz = new(ColumnKind.TimestampTz);
    public static readonly ColumnType Uuid = new(ColumnKind.Uuid);

    public static ColumnType Char(int length) => new(ColumnKind.Char, Length: length);

    public static ColumnType Numeric(int precision, int scale) => new(ColumnKind.Numeric, Precision: precision, Scale: scale);

    /// <summary>Longest text this column takes, in characters, or null when unbounded.</summary>
    public int? MaxChars => Kind is ColumnKind.Char or ColumnKind.Varchar ? Length : null;

    public static bool TryParse(string? spec, out ColumnType type, out string error)
    {
        type = Text;
        error = "";
        var match = Spec().Match((spec ?? "").Trim().ToLowerInvariant());
        if (!match.Success)
        {
            error = $"'{spec}' is not a supported type; use text, char(n), varchar(n), integer, bigint, numeric(p,s), boolean, date, timestamptz or uuid.";
            return false;
        }

        var a = match.Groups["a"].Success ? int.Parse(match.Groups["a"].Value, CultureInfo.InvariantCulture) : (int?)null;
        var b = match.Groups["b"].Success ? int.Parse(match.Groups["b"].Value, CultureInfo.InvariantCulture) : (int?)null;
        switch (match.Groups["name"].Value)
        {
            case "text":
                type = Text;
                break;
            case "char" or "character" or "varchar" or "character varying":
                if (a is null or < 1 or > MaxLength)
                {
                    error = $"'{spec}' needs a length between 1 and {MaxLength}, e.g. char(3).";
                    return false;
                }

                var kind = match.Groups["name"].Value is "char" or "character" ? ColumnKind.Char : ColumnKind.Varchar;
                type = new ColumnType(kind, Length: a);
                break;
            case "integer" or "int" or "int4":
                type = Integer;
                break;
            case "bigint" or "int8":
                type = BigInt;
                break;
            case "numeric" or "decimal":
                if (a is null)
                {
                    type = new ColumnType(ColumnKind.Numeric);
                    break;
                }

                if (a is < 1 or > MaxPrecision || b is < 0 || (b ?? 0) > a)
                {
                    error = $"'{spec}' needs a precision between 1 and {MaxPrecision} and a scale between 0 and the precision.";
                    return false;
                }

                type = Numeric(a.Value, b ?? 0);
                break;
            case "boolean" or "bool":
                type = Boolean;
                break;
            case "date":
                type = Date;
                break;
            case "timestamptz" or "timestamp with time zone":
                type = TimestampTz;
                break;
            case "uuid":
                type = Uuid;
                break;
        }

        if (a is not null && type.Kind is not (ColumnKind.Char or ColumnKind.Varchar or ColumnKind.Numeric))
        {
            error = $"'{spec}' takes no parameters.";
            return false;
        }

        return true;
    }

    /// <summary>The type as PostgreSQL DDL spells it.</summary>
    public string ToSql() => Kind switch
    {
        ColumnKind.Text => "text",
        ColumnKind.Char => $"char({Length})",
        ColumnKind.Varchar => $"varchar({Length})",
        ColumnKind.Integer => "integer",
        ColumnKind.BigInt => "bigint",
        ColumnKind.Numeric when Precision is null => "numeric",
        ColumnKind.Numeric => $"numeric({Precision},{Scale})",
        ColumnKind.Boolean => "boolean",
        ColumnKind.Date => "date",
        ColumnKind.TimestampTz => "timestamptz",
        ColumnKind.Uuid => "uuid",
        _ => throw new InvalidOperationException($"Unknown column kind {Kind}."),
    };

    public override string ToString() => ToSql();

    [GeneratedRegex(@"^(?<name>text|character varying|character|char|varchar|integer|int4|int8|int|bigint|numeric|decimal|boolean|bool|date|timestamptz|timestamp with time zone|uuid)\s*(\(\s*(?<a>\d{1,8})\s*(,\s*(?<b>\d{1,8})\s*)?\))?$")]
    private static partial Regex Spec();
}

internal sealed class ColumnTypeJsonConverter : JsonConverter<ColumnType>
{
    public override ColumnType Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ColumnType.TryParse(reader.GetString(), out var type, out var error) ? type : throw new JsonException(error);

    public override void Write(Utf8JsonWriter writer, ColumnType value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToSql());
}
