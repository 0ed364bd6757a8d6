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
    /// The index's name: the dataset and its columns joined for a person to read (cut to fit), then a
    /// hash of the dataset and the exact column list, so two indexes never share a name. Joined alone,
    /// <c>orders</c> on (account, id) and on (account_id) would, and so would <c>orders_item</c> on (id)
    /// and <c>orders</c> on (item_id) in the same schema: one build would take the other's index for its own.
    /// </summary>
    public static string NameOf(string dataset, IReadOnlyList<string> columns)
    {
        // A comma and a colon cannot occur in an identifier: the hashed text spells one list only.
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{dataset}:{string.Join(",", columns)}")))[..12];
        var readable = $"{dataset}_{string.Join("_", columns)}";
        const int suffix = 1 + 12 + 4;
        return $"{readable[..Math.Min(readable.Length, Identifier.MaxLength - suffix)]}_{hash}_idx";
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
