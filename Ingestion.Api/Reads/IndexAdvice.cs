using Ingestion.Platform.Datasets;

namespace Ingestion.Api.Reads;

/// <summary>
/// Whether a query can be answered from an index. On a large table a filter that no index
/// starts with would read every row on every request; such a query is refused with the
/// index that would serve it, which the client can add (a job builds it without blocking
/// loads or reads). Orders are always served: only the key and declared indexes are allowed.
/// </summary>
public static class IndexAdvice
{
    private static readonly FilterOp[] IndexOps =
        [FilterOp.Eq, FilterOp.In, FilterOp.Gt, FilterOp.Gte, FilterOp.Lt, FilterOp.Lte, FilterOp.IsNull];

    /// <summary>
    /// Whether JSON pages of this query would each sort the rest of a large table: a dataset
    /// without a key is paged by row address (<c>order by ctid … limit</c>), which no index
    /// serves, so without a filter or a declared order every page reads every remaining row.
    /// </summary>
    public static bool PagesByRowAddress(RowQuery query, long tableRows, long maxUnindexedRows) =>
        tableRows > maxUnindexedRows && query.Filters.Count == 0 && query.Order is [RowQueries.RowId];

    /// <summary>The columns of the index to add, or null when an index serves the query (or the table is small).</summary>
    public static IReadOnlyList<string>? Missing(RowQuery query, long tableRows, long maxUnindexedRows)
    {
        if (query.Filters.Count == 0 || tableRows <= maxUnindexedRows)
        {
            return null;
        }

        var indexed = query.Filters.Where(f => IndexOps.Contains(f.Op)).Select(f => f.Column.Name).ToHashSet();
        var leading = new List<IReadOnlyList<string>> { query.Dataset.Key };
        leading.AddRange(query.Dataset.SecondaryIndexes);
        if (leading.Any(index => index.Count > 0 && indexed.Contains(index[0])))
        {
            return null;
        }

        // Equality first, then one range, then the order: the shape a B-tree answers in one range scan.
        var equal = query.Filters.Where(f => f.Op is FilterOp.Eq or FilterOp.In or FilterOp.IsNull).Select(f => f.Column.Name);
        var range = query.Filters.Where(f => f.Op is FilterOp.Gt or FilterOp.Gte or FilterOp.Lt or FilterOp.Lte).Select(f => f.Column.Name).Take(1);
        var columns = equal.Concat(range).Distinct().ToList();
        if (columns.Count == 0)
        {
            // Only "is not null": no index narrows that down.
            columns = query.Filters.Select(f => f.Column.Name).Take(1).ToList();
        }

        return columns.Concat(query.Order.Where(o => o != RowQueries.RowId)).Distinct().Take(DatasetIndex.MaxColumns).ToList();
    }
}
