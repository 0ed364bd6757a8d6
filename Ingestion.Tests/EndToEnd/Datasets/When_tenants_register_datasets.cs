using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Datasets;

public sealed class When_tenants_register_datasets
{
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;
    private HttpClient _ops = null!;

    [OneTimeSetUp]
    public void Connect()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        _globex = TestRun.Shared.Client(Keys.Globex);
        _ops = TestRun.Shared.Client(Keys.Ops);
    }

    [OneTimeTearDown]
    public void Disconnect()
    {
        _acme.Dispose();
        _globex.Dispose();
        _ops.Dispose();
    }

    [Test]
    public async Task Should_create_a_typed_table_in_the_tenants_schema_and_describe_it()
    {
        var name = "orders_" + Guid.NewGuid().ToString("N")[..8];
        using var response = await _acme.PostAsJsonAsync("/v1/datasets", new
        {
            name,
            columns = new object[]
            {
                new { name = "order_id", type = "uuid" },
                new { name = "quantity", type = "integer", required = true },
                new { name = "total", type = "numeric(12,3)" },
                new { name = "paid", type = "boolean" },
                new { name = "ordered_on", type = "date" },
                new { name = "country", type = "char(2)" },
                new { name = "note", type = "varchar(200)" },
            },
            key = new[] { "order_id" },
            onKeyConflict = "upsert",
            maxRejectedRatio = 0.05,
        });
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created), body.ToJsonString());
        Assert.That(response.Headers.Location!.ToString(), Is.EqualTo($"/v1/datasets/{name}"));
        var described = await _acme.GetJsonAsync($"/v1/datasets/{name}");
        Assert.That(described["columns"]!.AsArray().Select(c => $"{c!["name"]} {c["type"]} {c["required"]}"), Is.EqualTo(new[]
        {
            "order_id uuid true", "quantity integer true", "total numeric(12,3) false", "paid boolean false",
            "ordered_on date false", "country char(2) false", "note varchar(200) false",
        }));
        Assert.That(described["onKeyConflict"]!.GetValue<string>(), Is.EqualTo("upsert"));

        var columns = await TestRun.Shared.Sandbox.ScalarAsync<string[]>("""
            select array_agg(column_name || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || is_nullable order by ordinal_position)
            from information_schema.columns c
            join pg_attribute a on a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass and a.attname = c.column_name
            where table_schema = 'tenant_acme' and table_name = @name
            """, ("name", name));
        Assert.That(columns, Is.EqualTo(new[]
        {
            "order_id uuid NO", "quantity integer NO", "total numeric(12,3) YES", "paid boolean YES",
            "ordered_on date YES", "country character(2) YES", "note character varying(200) YES",
        }));
        var list = await _acme.GetJsonAsync("/v1/datasets");
        Assert.That(list.AsArray().Select(d => d!["name"]!.GetValue<string>()), Does.Contain(name).And.Contain("transactions"));
    }

    [Test]
    public async Task Should_refuse_a_second_dataset_of_the_same_name_with_409()
    {
        var name = "dup_" + Guid.NewGuid().ToString("N")[..8];
        var dataset = new { name, columns = new[] { new { name = "id", type = "bigint" } }, key = new[] { "id" } };
        (await _acme.PostAsJsonAsync("/v1/datasets", dataset)).EnsureSuccessStatusCode();

        using var again = await _acme.PostAsJsonAsync("/v1/datasets", dataset);

        Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        Assert.That((await again.ProblemAsync())["detail"]!.GetValue<string>(), Does.Contain(name));
    }

    [Test]
    public async Task Should_refuse_names_and_types_that_could_become_sql_with_every_reason()
    {
        using var response = await _acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = "x\"; drop table tenant_acme.transactions; --",
            columns = new[] { new { name = "a b", type = "text) --" } },
            key = new[] { "nope" },
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var errors = (await response.ProblemAsync())["errors"]!.AsObject();
        Assert.That(errors.Select(e => e.Key), Is.EquivalentTo(new[] { "name", "columns[0].name", "columns[0].type", "key" }));
        Assert.That(await TestRun.Shared.Sandbox.ScalarAsync<bool>("select to_regclass('tenant_acme.transactions') is not null"), Is.True,
            "the transactions table is still there");
    }

    [Test]
    public async Task Should_say_where_a_malformed_body_breaks()
    {
        using var response = await _acme.PostAsync("/v1/datasets",
            new StringContent("{\"name\": \"t\", \"columns\": [{\"name\": \"a\", \"type\": \"text\", \"required\": \"yes\"}]}",
                System.Text.Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await response.ProblemAsync())["detail"]!.GetValue<string>(), Does.Contain("$.columns[0].required"));
    }

    [Test]
    public async Task Should_keep_each_tenants_datasets_to_itself()
    {
        var name = "private_" + Guid.NewGuid().ToString("N")[..8];
        (await _acme.PostAsJsonAsync("/v1/datasets", new { name, columns = new[] { new { name = "id", type = "bigint" } } }))
            .EnsureSuccessStatusCode();

        using var read = await _globex.GetAsync($"/v1/datasets/{name}");
        using var upload = await _globex.UploadCsvAsync(name, "id\n1\n"u8.ToArray());

        Assert.That(read.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(upload.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        var globexDatasets = await _globex.GetJsonAsync("/v1/datasets");
        Assert.That(globexDatasets.AsArray().Select(d => d!["name"]!.GetValue<string>()), Does.Not.Contain(name));
    }

    [Test]
    public async Task Should_load_each_tenants_transactions_into_its_own_table()
    {
        var csv = new TestCsv();
        var job = await _globex.StartUploadAsync("transactions", csv.Transactions(12));
        var done = await _globex.WaitForJobEndAsync(job);

        Assert.That(done["status"]!.GetValue<string>(), Is.EqualTo("completed"), done.ToJsonString());
        var ids = Enumerable.Range(1, 12).Select(csv.Id).ToArray();
        Assert.That(await TestRun.Shared.Sandbox.ScalarAsync<long>(
            "select count(*) from tenant_globex.transactions where transaction_id = any(@ids)", ("ids", ids)), Is.EqualTo(12));
        Assert.That(await TestRun.Shared.Sandbox.ScalarAsync<long>(
            "select count(*) from tenant_acme.transactions where transaction_id = any(@ids)", ("ids", ids)), Is.Zero);
        using var fromAcme = await _acme.GetAsync($"/v1/jobs/{job}");
        Assert.That(fromAcme.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Should_keep_operator_keys_off_tenant_datasets_but_let_them_read_any_job()
    {
        var job = await _acme.StartUploadAsync("transactions", new TestCsv().Transactions(1));

        using var datasets = await _ops.GetAsync("/v1/datasets");
        var seen = await _ops.GetJsonAsync($"/v1/jobs/{job}");

        Assert.That(datasets.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That((await datasets.ProblemAsync())["detail"]!.GetValue<string>(), Does.Contain("Operator keys"));
        Assert.That(seen["tenant"]!.GetValue<string>(), Is.EqualTo("acme"));
    }
}
