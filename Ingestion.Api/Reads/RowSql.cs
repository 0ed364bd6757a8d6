using System.Text;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Tenancy;
using Npgsql;

namespace Ingestion.Api.Reads;

/// <summary>
/// The SELECT of a <see cref="RowQuery"/>. Identifiers come only from the dataset's validated
/// definition, quoted; every value is a parameter. COPY takes no parameters, so for a CSV
/// export the same values are bound to <c>set_config</c> in the export's transaction and the
/// statement reads them back typed with <c>current_setting</c>; still no value in SQL text.
/// </summary>
public sealed class RowSql
{
    private const string SettingPrefix = "ingestion.read_";

    private readonly List<NpgsqlParameter> _parameters = [];
    private readonly List<(string Name, string Value)> _settings = [];
    private readonly bool _forCopy;

    private RowSql(bool forCopy) => _forCopy = forCopy;

    public string Text { get; private set; } = "";

    /// <summary>Parameters of <see cref="Text"/> (a query; empty for COPY).</summary>
    public IReadOnlyList<NpgsqlParameter> Parameters => _parameters;

    /// <summary>Settings <see cref="Text"/> reads (COPY only), bound by <see cref="SetSettingsSql"/>.</summary>
    public IReadOnlyList<(string Name, string Value)> Settings => _settings;

    /// <summary>Ordinal of the first column selected only to make the next cursor (not shown to the client).</summary>
    public int HiddenFrom { get; private set; }

    /// <param name="ordered">False for an export read in storage order: the fastest scan, no sort.</param>
    /// <param name="extraRow">Reads one row past the limit, to know whether there is a next page.</param>
    public static RowSql For(string tenantId, RowQuery query, bool forCopy, bool ordered, bool extraRow)
    {
        var sql = new RowSql(forCopy);
        var select = query.Fields.Select(f => Identifier.Quote(f.Name)).ToList();
        sql.HiddenFrom = select.Count;
        if (ordered && !forCopy)
        {
            select.AddRange(query.Order.Where(o => query.Fields.All(f => f.Name != o))
                .Select(o => o == RowQueries.RowId ? "ctid::text" : Identifier.Quote(o)));
        }

        var text = new StringBuilder("select ").AppendJoin(", ", select)
            .Append(" from ").Append(TenantSchema.QualifiedTable(tenantId, query.Dataset.Name));
        var conditions = query.Filters.Select(sql.Condition).ToList();
        if (query.After is { } after)
        {
            var columns = query.Order.Select(o => o == RowQueries.RowId ? RowQueries.RowId : Identifier.Quote(o));
            var values = query.Order.Select((o, i) => o == RowQueries.RowId
                ? sql.Bind(after[i], null) + "::tid"
                : sql.Bind(after[i], query.Dataset.Column(o)!.Type));
            conditions.Add($"({string.Join(", ", columns)}) {(query.Descending ? "<" : ">")} ({string.Join(", ", values)})");
        }

        if (conditions.Count > 0)
        {
            text.Append(" where ").AppendJoin(" and ", conditions);
        }

        if (ordered)
        {
            var direction = query.Descending ? " desc" : "";
            text.Append(" order by ").AppendJoin(", ", query.Order.Select(o =>
                (o == RowQueries.RowId ? RowQueries.RowId : Identifier.Quote(o)) + direction));
        }

        if (query.Limit is { } limit)
        {
            text.Append(" limit ").Append(sql.Bind(limit + (extraRow ? 1 : 0), ColumnType.BigInt));
        }

        sql.Text = text.ToString();
        return sql;
    }

    /// <summary>The statement that binds <see cref="Settings"/> for the rest of the transaction, and its parameters.</summary>
    public (string Sql, IReadOnlyList<NpgsqlParameter> Parameters) SetSettingsSql()
    {
        var calls = _settings.Select((_, i) => $"set_config(@name{i}, @value{i}, true)");
        var parameters = _settings.SelectMany((s, i) => new[] { new NpgsqlParameter($"name{i}", s.Name), new NpgsqlParameter($"value{i}", s.Value) });
        return ($"select {string.Join(", ", calls)}", parameters.ToList());
    }

    private string Condition(RowFilter filter)
    {
        var column = Identifier.Quote(filter.Column.Name);
        var type = filter.Column.Type;
        return filter.Op switch
        {
            FilterOp.Eq => $"{column} = {Bind(filter.Values[0], type)}",
            FilterOp.In => $"{column} in ({string.Join(", ", filter.Values.Select(v => Bind(v, type)))})",
            FilterOp.Gt => $"{column} > {Bind(filter.Values[0], type)}",
            FilterOp.Gte => $"{column} >= {Bind(filter.Values[0], type)}",
            FilterOp.Lt => $"{column} < {Bind(filter.Values[0], type)}",
            FilterOp.Lte => $"{column} <= {Bind(filter.Values[0], type)}",
            FilterOp.IsNull => $"{column} is null",
            FilterOp.NotNull => $"{column} is not null",
            _ => throw new ArgumentOutOfRangeException(nameof(filter), filter.Op, "Unknown filter."),
        };
    }

    /// <summary>A placeholder for <paramref name="value"/>; a null type binds text (the row id's, cast by the caller).</summary>
    private string Bind(object value, ColumnType? type)
    {
        if (_forCopy)
        {
            var name = SettingPrefix + _settings.Count;
            _settings.Add((name, ColumnValues.Format(value)));
            return type is null ? $"current_setting('{name}')" : $"current_setting('{name}')::{type.ToSql()}";
        }

        var parameter = type is null
            ? new NpgsqlParameter($"p{_parameters.Count}", value)
            : new NpgsqlParameter($"p{_parameters.Count}", ColumnValues.DbType(type)) { Value = value };
        if (type?.Kind == ColumnKind.BigInt && value is int small)
        {
            parameter.Value = (long)small;
        }

        _parameters.Add(parameter);
        return "@" + parameter.ParameterName;
    }
}
