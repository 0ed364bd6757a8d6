using System.Text;
using System.Text.RegularExpressions;
using Ingestion.Platform.Datasets;
using Microsoft.Extensions.Primitives;

namespace Ingestion.Api.Reads;

public enum FilterOp
{
    Eq,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
    IsNull,
    NotNull,
}

/// <summary>One condition on a column, its values already of the column's type.</summary>
public sealed record RowFilter(DatasetColumn Column, FilterOp Op, IReadOnlyList<object> Values);

/// <summary>
/// A read of a dataset's rows, checked against its definition: every column it names is one
/// of the dataset's (so every identifier that reaches SQL comes from the validated
/// definition), every value is typed, and the order is unique, so pages can follow each
/// other by keyset: <c>(order columns) &gt; (values of the last row)</c>.
/// </summary>
/// <param name="Order">The order's columns, the key's appended as tie-breakers; <see cref="RowQueries.RowId"/> for a dataset without a key.</param>
/// <param name="After">Values of the last row of the previous page, one per <paramref name="Order"/> column.</param>
public sealed record RowQuery(
    DatasetDefinition Dataset,
    IReadOnlyList<DatasetColumn> Fields,
    IReadOnlyList<RowFilter> Filters,
    IReadOnlyList<string> Order,
    bool Descending,
    int? Limit,
    IReadOnlyList<object>? After)
{
    /// <summary>What a cursor is bound to: the dataset, filters and order (not fields or limit, which a client may change between pages).</summary>
    public string Shape
    {
        get
        {
            var shape = new StringBuilder(Dataset.Name).Append('|');
            foreach (var filter in Filters)
            {
                shape.Append(filter.Column.Name).Append(' ').Append(filter.Op).Append(' ')
                    .AppendJoin('\u001f', filter.Values.Select(ColumnValues.Format)).Append('\u001e');
            }

            return shape.Append('|').AppendJoin(',', Order).Append(Descending ? " desc" : " asc").ToString();
        }
    }
}

/// <summary>Turns a query string into a <see cref="RowQuery"/>, or into errors keyed by the parameter at fault.</summary>
public static partial class RowQueries
{
    /// <summary>The tie-breaker of a dataset without a key: the row's physical address (its rows are only ever appended).</summary>
    public const string RowId = "ctid";

    public static (RowQuery? Query, Dictionary<string, string[]> Errors) Parse(DatasetDefinition dataset,
        IEnumerable<KeyValuePair<string, StringValues>> parameters, ReadOptions options, RowCursor cursors, bool paged)
    {
        var errors = new Dictionary<string, string[]>();
        var filters = new List<RowFilter>();
        string? order = null, fields = null, limit = null, cursor = null;
        foreach (var (name, values) in parameters)
        {
            var value = values.Count > 0 ? values[^1] ?? "" : "";
            switch (name)
            {
                case "order":
                    order = value;
                    continue;
                case "fields":
                    fields = value;
                    continue;
                case "limit":
                    limit = value;
                    continue;
                case "cursor":
                    cursor = value;
                    continue;
            }

            if (ParseFilter(dataset, name, values, options) is var (filter, error) && error is not null)
            {
                errors[name] = [error];
            }
            else
            {
                filters.Add(filter!);
            }
        }

        var selected = ParseFields(dataset, fields, errors);
        var (orderColumns, descending) = ParseOrder(dataset, order, errors);
        int? rows = paged ? options.DefaultPageSize : null;
        if (limit is not null)
        {
            if (!int.TryParse(limit, out var n) || n < 1)
            {
                errors["limit"] = ["must be a whole number of at least 1."];
            }
            else if (paged && n > options.MaxPageSize)
            {
                errors["limit"] = [$"is at most {options.MaxPageSize} for a JSON page; export larger selections as NDJSON or CSV, or follow 'next'."];
            }
            else
            {
                rows = n;
            }
        }

        if (errors.Count > 0)
        {
            return (null, errors);
        }

        var query = new RowQuery(dataset, selected, filters, orderColumns, descending, rows, null);
        return WithCursor(query, cursor, cursors);
    }

    /// <summary>Applies a client's <c>cursor</c> to <paramref name="query"/>: a 400 unless it was signed for this very query.</summary>
    public static (RowQuery? Query, Dictionary<string, string[]> Errors) WithCursor(RowQuery query, string? cursor, RowCursor cursors)
    {
        if (string.IsNullOrEmpty(cursor))
        {
            return (query, []);
        }

        var values = cursors.Decode(cursor, query.Shape, out var error);
        if (values is null || values.Count != query.Order.Count)
        {
            return (null, new() { ["cursor"] = [error ?? "does not fit this query's order."] });
        }

        var after = new List<object>();
        for (var i = 0; i < values.Count; i++)
        {
            // Signed by this API from values it read, so they parse; the check stays for a changed definition.
            var value = query.Order[i] == RowId ? values[i] : ColumnValues.TryParse(query.Dataset.Column(query.Order[i])!.Type, values[i], out _);
            if (value is null)
            {
                return (null, new() { ["cursor"] = ["does not fit this dataset's columns any more; start again without it."] });
            }

            after.Add(value);
        }

        return (query with { After = after }, []);
    }

    /// <summary>
    /// The order every dataset can be read in: its key (or, without one, the order rows were
    /// loaded in), ascending or descending.
    /// </summary>
    public static IReadOnlyList<string> KeyOrder(DatasetDefinition dataset) => dataset.Key.Count > 0 ? dataset.Key : [RowId];

    private static (RowFilter? Filter, string? Error) ParseFilter(DatasetDefinition dataset, string name, StringValues values,
        ReadOptions options)
    {
        var match = FilterName().Match(name);
        if (!match.Success)
        {
            return (null, "is not a parameter of this endpoint: filter as column=value or column[op]=value.");
        }

        var columnName = match.Groups["column"].Value;
        var column = dataset.Columns.FirstOrDefault(c => c.Name == columnName);
        if (column is null)
        {
            return (null, $"'{Shorten(columnName)}' is not a column of dataset '{dataset.Name}'; its columns are {string.Join(", ", dataset.Columns.Select(c => c.Name))}.");
        }

        var opName = match.Groups["op"].Success ? match.Groups["op"].Value : "eq";
        FilterOp? op = opName switch
        {
            "eq" => FilterOp.Eq,
            "in" => FilterOp.In,
            "gt" => FilterOp.Gt,
            "gte" => FilterOp.Gte,
            "lt" => FilterOp.Lt,
            "lte" => FilterOp.Lte,
            "null" => FilterOp.IsNull,
            _ => null,
        };
        if (op is null)
        {
            return (null, $"'{Shorten(opName)}' is not an operator; use eq, in, gt, gte, lt, lte or null.");
        }

        if (values.Count != 1 && op != FilterOp.In)
        {
            return (null, $"is given {values.Count} times; give it once, or list the values with {column.Name}[in]=a,b.");
        }

        if (op == FilterOp.IsNull)
        {
            return values[0]?.ToLowerInvariant() switch
            {
                "true" => (new RowFilter(column, FilterOp.IsNull, []), null),
                "false" => (new RowFilter(column, FilterOp.NotNull, []), null),
                _ => (null, $"{column.Name}[null] takes true (rows without a value) or false (rows with one)."),
            };
        }

        var texts = op == FilterOp.In ? values.SelectMany(v => SplitList(v ?? "")).ToList() : [values[0] ?? ""];
        if (op == FilterOp.In && texts.Count > options.MaxInValues)
        {
            return (null, $"lists {texts.Count} values; at most {options.MaxInValues}.");
        }

        var typed = new List<object>();
        foreach (var text in texts)
        {
            if (text.Length == 0)
            {
                return (null, $"column '{column.Name}': an empty value matches nothing (empty fields load as null); use {column.Name}[null]=true.");
            }

            var value = ColumnValues.TryParse(column.Type, text, out var error);
            if (value is null)
            {
                return (null, $"column '{column.Name}' ({column.Type.ToSql()}): {error}");
            }

            typed.Add(value);
        }

        return (new RowFilter(column, op.Value, typed), null);
    }

    private static IReadOnlyList<DatasetColumn> ParseFields(DatasetDefinition dataset, string? fields, Dictionary<string, string[]> errors)
    {
        if (string.IsNullOrWhiteSpace(fields))
        {
            return dataset.Columns;
        }

        var names = fields.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var unknown = names.Where(n => dataset.Columns.All(c => c.Name != n)).ToList();
        if (unknown.Count > 0)
        {
            errors["fields"] = [$"{string.Join(", ", unknown.Select(u => $"'{Shorten(u)}'"))} {(unknown.Count == 1 ? "is not a column" : "are not columns")} of dataset '{dataset.Name}'."];
            return [];
        }

        return names.Distinct().Select(n => dataset.Columns.First(c => c.Name == n)).ToList();
    }

    /// <summary>
    /// <c>order=col1,col2</c> (ascending) or <c>order=-col1,-col2</c> (descending): the key or
    /// the leading columns of a declared index, which is what keeps a page an index range scan.
    /// </summary>
    private static (IReadOnlyList<string> Order, bool Descending) ParseOrder(DatasetDefinition dataset, string? order,
        Dictionary<string, string[]> errors)
    {
        var keyOrder = KeyOrder(dataset);
        if (string.IsNullOrWhiteSpace(order))
        {
            return (keyOrder, false);
        }

        var parts = order.Split(',', StringSplitOptions.TrimEntries);
        var descending = parts[0].StartsWith('-');
        if (parts.Any(p => p.StartsWith('-') != descending))
        {
            errors["order"] = ["orders every column the same way: all ascending (col) or all descending (-col)."];
            return ([], false);
        }

        var columns = parts.Select(p => p.TrimStart('-')).ToList();
        var orders = new List<IReadOnlyList<string>> { dataset.Key };
        orders.AddRange(dataset.SecondaryIndexes);
        if (!orders.Any(index => index.Count >= columns.Count && index.Take(columns.Count).SequenceEqual(columns)))
        {
            var allowed = string.Join("; ", orders.Where(o => o.Count > 0).Select(o => string.Join(",", o)));
            errors["order"] = [$"'{Shorten(order)}' is neither the key nor the start of a declared index of dataset '{dataset.Name}'; order by one of: {(allowed.Length == 0 ? "(none: declare an index)" : allowed)}."];
            return ([], false);
        }

        var nullable = columns.Select(dataset.Column).FirstOrDefault(c => c is not { Required: true });
        if (nullable is not null)
        {
            errors["order"] = [$"column '{nullable.Name}' may be empty; pages can only follow an order of required columns."];
            return ([], false);
        }

        return (columns.Concat(keyOrder.Where(k => !columns.Contains(k))).ToList(), descending);
    }

    /// <summary>Values of an <c>[in]</c> list: comma-separated, a value with a comma in double quotes as in the CSV (<c>"a,b",c</c>).</summary>
    private static List<string> SplitList(string text)
    {
        var values = new List<string>();
        var current = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    current.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c == '"' && current.Length == 0)
            {
                quoted = true;
            }
            else if (c == ',')
            {
                values.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }

        values.Add(current.ToString());
        return values;
    }

    private static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "…";

    [GeneratedRegex(@"^(?<column>[^\[\]]+)(\[(?<op>[^\[\]]*)\])?$")]
    private static partial Regex FilterName();
}
