using Ingestion.Platform.Datasets;

namespace Ingestion.Tests.Unit;

public sealed class Dataset_definitions
{
    [TestCase("text", "text")]
    [TestCase("CHAR(3)", "char(3)")]
    [TestCase("character varying(20)", "varchar(20)")]
    [TestCase("int", "integer")]
    [TestCase("int8", "bigint")]
    [TestCase("numeric(14, 2)", "numeric(14,2)")]
    [TestCase("decimal(5)", "numeric(5,0)")]
    [TestCase("numeric", "numeric")]
    [TestCase("bool", "boolean")]
    [TestCase("timestamp with time zone", "timestamptz")]
    [TestCase("uuid", "uuid")]
    public void Should_accept_the_supported_types_and_spell_them_as_postgres_does(string spec, string sql)
    {
        Assert.That(ColumnType.TryParse(spec, out var type, out var error), Is.True, error);
        Assert.That(type.ToSql(), Is.EqualTo(sql));
    }

    [TestCase("json")]
    [TestCase("text); drop table x; --")]
    [TestCase("char")]
    [TestCase("char(0)")]
    [TestCase("numeric(2,3)")]
    [TestCase("integer(4)")]
    [TestCase("")]
    public void Should_refuse_anything_else_with_a_reason(string spec)
    {
        Assert.That(ColumnType.TryParse(spec, out _, out var error), Is.False);
        Assert.That(error, Is.Not.Empty);
    }

    [Test]
    public void Should_report_every_problem_of_a_request_by_field()
    {
        var (dataset, errors) = DatasetRules.Validate(new DatasetRules.DatasetRequest(
            "Orders; drop",
            [new("id", "uuid", true), new("id", "text", false), new("amount", "money", true), new("Bad Name", "text", false)],
            ["id", "missing"],
            "merge",
            null,
            -1,
            1.5));

        Assert.That(dataset, Is.Null);
        Assert.That(errors.Keys, Is.EquivalentTo(new[]
        {
            "name", "columns[1].name", "columns[2].type", "columns[3].name", "key", "onKeyConflict", "maxRejectedRows", "maxRejectedRatio",
        }));
        Assert.That(errors["key"], Has.Some.Contains("'missing' is not one of the columns"));
    }

    [Test]
    public void Should_make_key_columns_required()
    {
        var (dataset, errors) = DatasetRules.Validate(new DatasetRules.DatasetRequest(
            "orders", [new("id", "uuid", false), new("note", "text", null)], ["id"], "upsert", true, 10, 0.1));

        Assert.That(errors, Is.Empty);
        Assert.That(dataset!.Column("id")!.Required, Is.True);
        Assert.That(dataset.Column("NOTE")!.Required, Is.False, "columns are found case-insensitively");
        Assert.That(dataset.OnKeyConflict, Is.EqualTo(KeyConflictPolicy.Upsert));
    }

    [Test]
    public void Should_quote_every_identifier_in_the_table_ddl()
    {
        var sql = DatasetCatalog.CreateTableSql("acme", BuiltInDatasets.Transactions);

        Assert.That(sql, Is.EqualTo(
            "create table \"tenant_acme\".\"transactions\" (\"transaction_id\" uuid not null, \"account_id\" bigint not null, " +
            "\"occurred_at\" timestamptz not null, \"amount\" numeric(14,2) not null, \"currency\" char(3) not null, " +
            "\"merchant\" text, \"category\" text, \"description\" text, primary key (\"transaction_id\"))"));
    }

    [TestCase("transactions", true)]
    [TestCase("a", true)]
    [TestCase("order_lines_2026", true)]
    [TestCase("Orders", false)]
    [TestCase("2026_orders", false)]
    [TestCase("orders\"", false)]
    [TestCase("pg-orders", false)]
    public void Should_only_take_lower_case_identifiers(string name, bool valid) =>
        Assert.That(Identifier.IsValid(name), Is.EqualTo(valid));
}
