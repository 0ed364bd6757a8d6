using System.Security.Cryptography;
using System.Text;
using Ingestion.Platform.Tenancy;

namespace Ingestion.Platform.Datasets;

/// <summary>A secondary index of a dataset: its columns, in order, and the DDL that builds it.</summary>
public static class DatasetIndex
{
    public const int MaxIndexes = 10;
    public const int MaxColumns = 8;

    /// <summary>
    /// The index's name: PostgreSQL's own default (<c>table_col1_col2_idx</c>) when it fits in
    /// 63 characters, so the built-in index created before names existed keeps its name;
    /// otherwise the table and a hash of the columns.
    /// </summary>
    public static string NameOf(string dataset, IReadOnlyList<string> columns)
    {
        var name = $"{dataset}_{string.Join("_", columns)}_idx";
        if (name.Length <= Identifier.MaxLength)
        {
            return name;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(",", columns))))[..12];
        return $"{dataset[..Math.Min(dataset.Length, Identifier.MaxLength - 17)]}_{hash}_idx";
    }

    /// <summary>The DDL; <paramref name="concurrently"/> for a table that is loaded or read while it is built.</summary>
    public static string CreateSql(string tenantId, string dataset, IReadOnlyList<string> columns, bool concurrently) =>
        $"create index {(concurrently ? "concurrently " : "")}if not exists {Identifier.Quote(NameOf(dataset, columns))} " +
        $"on {TenantSchema.QualifiedTable(tenantId, dataset)} ({string.Join(", ", columns.Select(Identifier.Quote))})";

    /// <summary>Whether the dataset already has an index on exactly these columns: its key, or a declared one.</summary>
    public static bool IsDeclared(DatasetDefinition dataset, IReadOnlyList<string> columns) =>
        dataset.Key.SequenceEqual(columns, StringComparer.Ordinal)
        || dataset.SecondaryIndexes.Any(index => index.SequenceEqual(columns, StringComparer.Ordinal));

    /// <summary>How a client writes the index in a request, e.g. <c>["account_id", "occurred_at"]</c>.</summary>
    public static string Describe(IEnumerable<string> columns) => "[" + string.Join(", ", columns.Select(c => $"\"{c}\"")) + "]";

    /// <summary>Why these columns cannot be an index of the dataset, or null when they can.</summary>
    public static string? Check(IReadOnlyList<string>? columns, Func<string, bool> isColumn)
    {
        if (columns is null || columns.Count == 0)
        {
            return "must list at least one column.";
        }

        if (columns.Count > MaxColumns)
        {
            return $"may list at most {MaxColumns} columns.";
        }

        if (columns.Distinct(StringComparer.Ordinal).Count() != columns.Count)
        {
            return "names a column more than once.";
        }

        return columns.FirstOrDefault(c => !isColumn(c)) is { } unknown ? $"'{unknown}' is not one of the columns." : null;
    }
}
