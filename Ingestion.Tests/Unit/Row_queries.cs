using Ingestion.Api.Reads;
using Ingestion.Platform.Datasets;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Ingestion.Tests.Unit;

/// <summary>How a query string becomes a typed, keyset-paged read, and what never reaches SQL.</summary>
public sealed class Row_queries
{
    private static readonly ReadOptions Options = new() { CursorKey = new string('k', 32) };
    private static readonly RowCursor Cursors = new(Microsoft.Extensions.Options.Options.Create(Options));
    private static readonly DatasetDefinition Transactions = BuiltInDatasets.Transactions;

    private static (RowQuery? Query, Dictionary<string, string[]> Errors) Parse(params (string Key, string Value)[] parameters) =>
        RowQueries.Parse(Transactions, parameters.Select(p => new KeyValuePair<string, StringValues>(p.Key, p.Value)), Options, Cursors,
            paged: true);

    [Test]
    public void Should_bind_every_value_as_a_typed_parameter()
    {
        var (query, errors) = Parse(("account_id", "42"), ("occurred_at[gte]", "2026-01-01"), ("category[in]", "a,\"b,c\""),
            ("merchant[null]", "true"));
        var sql = RowSql.For("acme", query!, forCopy: false, ordered: true, extraRow: true);

        Assert.That(errors, Is.Empty);
        Assert.That(sql.Text, Is.EqualTo("select \"transaction_id\", \"account_id\", \"occurred_at\", \"amount\", \"currency\", \"merchant\", \"category\", \"description\" " +
            "from \"tenant_acme\".\"transactions\" where \"account_id\" = @p0 and \"occurred_at\" >= @p1 and \"category\" in (@p2, @p3) " +
            "and \"merchant\" is null order by \"transaction_id\" limit @p4"));
        Assert.That(sql.Parameters.Select(p => p.Value), Is.EqualTo(new object[] { 42L, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), "a", "b,c", 101L }));
    }

    [Test]
    public void Should_read_values_back_from_settings_in_a_copy()
    {
        var (query, _) = Parse(("amount[lt]", "-10.5"), ("order", "account_id,occurred_at"));
        var sql = RowSql.For("acme", query!, forCopy: true, ordered: true, extraRow: false);

        Assert.That(sql.Parameters, Is.Empty);
        Assert.That(sql.Text, Does.Contain("where \"amount\" < current_setting('ingestion.read_0')::numeric(14,2)"));
        Assert.That(sql.Text, Does.EndWith("order by \"account_id\", \"occurred_at\", \"transaction_id\" limit current_setting('ingestion.read_1')::bigint"));
        Assert.That(sql.Settings, Is.EqualTo(new[] { ("ingestion.read_0", "-10.5"), ("ingestion.read_1", "100") }));
    }

    [TestCase("amount", "12,50", "amount[eq]")]
    [TestCase("account_id[gt]", "1e3", "account_id[gt]")]
    [TestCase("currency", "EURO", "currency[eq]")]
    [TestCase("transaction_id[in]", "1,2", "transaction_id[in]")]
    public void Should_name_the_column_of_a_bad_value(string key, string value, string errorKey)
    {
        var (query, errors) = Parse((key, value));

        Assert.That(query, Is.Null);
        Assert.That(errors[key][0], Does.Contain($"column '{errorKey.Split('[')[0]}'"));
    }

    [Test]
    public void Should_page_by_keyset_and_refuse_a_changed_cursor()
    {
        var (query, _) = Parse(("account_id", "7"), ("order", "-account_id,-occurred_at"));
        var cursor = Cursors.Encode(query!.Shape, ["7", "2026-02-01T10:00:00Z", "6f1c2d6e-1111-4c4c-9a9a-000000000001"]);
        var (next, errors) = RowQueries.WithCursor(query, cursor, Cursors);
        var sql = RowSql.For("acme", next!, forCopy: false, ordered: true, extraRow: true);

        Assert.That(errors, Is.Empty);
        Assert.That(sql.Text, Does.Contain("(\"account_id\", \"occurred_at\", \"transaction_id\") < (@p1, @p2, @p3)"));
        Assert.That(sql.Text, Does.Contain("order by \"account_id\" desc, \"occurred_at\" desc, \"transaction_id\" desc"));
        var (otherQuery, _) = Parse(("account_id", "8"), ("order", "-account_id,-occurred_at"));
        Assert.That(RowQueries.WithCursor(otherQuery!, cursor, Cursors).Errors, Contains.Key("cursor"), "another filter");
        Assert.That(RowQueries.WithCursor(query, cursor[..^3] + "AAA", Cursors).Errors, Contains.Key("cursor"), "another signature");
        var otherKey = new RowCursor(Microsoft.Extensions.Options.Options.Create(new ReadOptions { CursorKey = new string('x', 32) }));
        Assert.That(RowQueries.WithCursor(query, cursor, otherKey).Errors, Contains.Key("cursor"), "another key");
    }

    [TestCase("amount", "neither the key nor the start of a declared index")]
    [TestCase("occurred_at", "neither the key")]
    [TestCase("account_id,-occurred_at", "the same way")]
    public void Should_order_only_by_the_key_or_a_declared_index(string order, string reason) =>
        Assert.That(Parse(("order", order)).Errors["order"][0], Does.Contain(reason));

    [Test]
    public void Should_only_page_a_large_keyless_dataset_by_an_index()
    {
        var keyless = Transactions with { Name = "log", Key = [] };
        RowQuery Keyless(params (string Key, string Value)[] parameters) =>
            RowQueries.Parse(keyless, parameters.Select(p => new KeyValuePair<string, StringValues>(p.Key, p.Value)), Options, Cursors,
                paged: true).Query!;

        Assert.That(IndexAdvice.PagesByRowAddress(Keyless(), 5_000_000, 100_000), Is.True, "order by ctid: a sort per page");
        Assert.That(IndexAdvice.PagesByRowAddress(Keyless(), 50_000, 100_000), Is.False, "a small table");
        Assert.That(IndexAdvice.PagesByRowAddress(Keyless(("account_id", "1")), 5_000_000, 100_000), Is.False, "an index narrows it");
        Assert.That(IndexAdvice.PagesByRowAddress(Keyless(("order", "account_id,occurred_at")), 5_000_000, 100_000), Is.False,
            "an index orders it");
        Assert.That(IndexAdvice.PagesByRowAddress(Parse().Query!, 5_000_000, 100_000), Is.False, "a keyed dataset pages by its key");
    }

    [Test]
    public void Should_name_the_index_a_large_table_needs()
    {
        var (byCategory, _) = Parse(("category", "fees"), ("amount[lt]", "0"));
        var (byAccount, _) = Parse(("account_id", "1"), ("category", "fees"));

        Assert.That(IndexAdvice.Missing(byCategory!, 5_000_000, 100_000), Is.EqualTo(new[] { "category", "amount", "transaction_id" }));
        Assert.That(IndexAdvice.Missing(byCategory!, 50_000, 100_000), Is.Null, "a small table is scanned");
        Assert.That(IndexAdvice.Missing(byAccount!, 5_000_000, 100_000), Is.Null, "(account_id, occurred_at) serves it");
    }

    [Test]
    public void Should_validate_declared_indexes()
    {
        var request = new DatasetRules.DatasetRequest("t", [new("a", "text", true), new("b", "bigint", false)], ["a"], null, null, null, null,
            [["b", "a"], ["c"], ["b", "b"], ["a"]]);

        var (dataset, errors) = DatasetRules.Validate(request);

        Assert.That(dataset, Is.Null);
        Assert.That(errors.Keys, Is.EquivalentTo(new[] { "indexes[1]", "indexes[2]", "indexes[3]" }));
        Assert.That(DatasetIndex.NameOf("transactions", ["account_id", "occurred_at"]), Does.StartWith("transactions_account_id_occurred_at_"));
        Assert.That(DatasetIndex.NameOf(new string('d', 60), ["x"]), Has.Length.LessThanOrEqualTo(63));
    }

    [Test]
    public void Should_give_different_indexes_different_names()
    {
        Assert.That(DatasetIndex.NameOf("orders", ["account", "id"]), Is.Not.EqualTo(DatasetIndex.NameOf("orders", ["account_id"])));
        Assert.That(DatasetIndex.NameOf("orders_item", ["id"]), Is.Not.EqualTo(DatasetIndex.NameOf("orders", ["item_id"])));
        Assert.That(DatasetIndex.NameOf(new string('d', 60), ["a"]), Is.Not.EqualTo(DatasetIndex.NameOf(new string('d', 60), ["b"])),
            "names cut to 63 characters still differ");
        Assert.That(DatasetIndex.NameOf("orders", ["account", "id"]), Is.EqualTo(DatasetIndex.NameOf("orders", ["account", "id"])));
    }
}
