using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Ingestion.Platform.Datasets;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>
/// A loaded dataset larger than <c>Reads:UnindexedScanMaxRows</c> (1,000 in the shared stack) refuses a
/// filter no index serves, naming the request that adds one; that request starts an index build job,
/// and once it is built the same filter answers.
/// </summary>
public sealed class When_an_index_is_added
{
    private const int Rows = 1_500;
    private readonly string _name = "indexed_" + Guid.NewGuid().ToString("N")[..8];
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;

    [OneTimeSetUp]
    public async Task LoadAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        _globex = TestRun.Shared.Client(Keys.Globex);
        await _acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(_name));
        await _acme.LoadAsync(_name, ReadClient.Csv(When_dataset_rows_are_read.Header, Enumerable.Range(1, Rows).Select(When_dataset_rows_are_read.Row)));
    }

    [OneTimeTearDown]
    public void Disconnect()
    {
        _acme.Dispose();
        _globex.Dispose();
    }

    [Test]
    public async Task Should_serve_a_refused_filter_once_the_index_it_names_is_built()
    {
        var path = $"/v1/datasets/{_name}/rows?qty=3&limit=1000";
        using var refused = await _acme.ReadAsync(path);
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await refused.ProblemAsync();
        var request = problem["addIndex"]!;
        Assert.That(request["method"]!.GetValue<string>(), Is.EqualTo("POST"));
        Assert.That(request["href"]!.GetValue<string>(), Is.EqualTo($"/v1/datasets/{_name}/indexes"));
        Assert.That(problem["detail"]!.GetValue<string>(), Does.Contain($"POST /v1/datasets/{_name}/indexes"));

        // The client makes exactly the request the refusal names.
        var body = request["body"]!.DeepClone();
        using var accepted = await _acme.PostAsJsonAsync(request["href"]!.GetValue<string>(), body);
        Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await accepted.Content.ReadAsStringAsync());
        var jobId = (await accepted.Content.ReadFromJsonAsync<JsonObject>())!["jobId"]!.GetValue<Guid>();

        var job = await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "built", "failed", "cancelled");
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("built"), job.ToJsonString());
        Assert.That(job["kind"]!.GetValue<string>(), Is.EqualTo("index-build"));
        Assert.That(job["index"]!["columns"]!.AsArray().Select(c => c!.GetValue<string>()), Is.EqualTo(new[] { "qty", "id" }));

        var page = await _acme.GetJsonAsync(path);
        Assert.That(page["rows"]!.AsArray().Select(r => r!["id"]!.GetValue<int>()),
            Is.EqualTo(Enumerable.Range(1, Rows).Where(i => i % 7 == 3).ToArray()));
        var described = await _acme.GetJsonAsync($"/v1/datasets/{_name}");
        Assert.That(described["indexes"]!.AsArray().Select(i => string.Join(",", i!.AsArray().Select(c => c!.GetValue<string>()))),
            Does.Contain("qty,id"));
        Assert.That(await IsValidIndexAsync(job["index"]!["name"]!.GetValue<string>()), Is.True);

        // Asked again for the same columns, by another spelling: the same job, not a second build.
        using var again = await _acme.PostAsJsonAsync($"/v1/datasets/{_name}/indexes", new { columns = new[] { "QTY", "id" } });
        Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        Assert.That((await again.Content.ReadFromJsonAsync<JsonObject>())!["jobId"]!.GetValue<Guid>(), Is.EqualTo(jobId));
        var builds = await _acme.GetJsonAsync($"/v1/jobs?kind=index-build&dataset={_name}");
        Assert.That(builds["items"]!.AsArray().Where(j => j!["index"]!["name"]!.GetValue<string>() == job["index"]!["name"]!.GetValue<string>())
            .Select(j => j!["jobId"]!.GetValue<Guid>()), Is.EqualTo(new[] { jobId }));
    }

    [Test]
    public async Task Should_drop_the_invalid_index_a_failed_build_left_and_build_it_again()
    {
        // What a CONCURRENTLY build that failed leaves behind, under the name the service will choose:
        // a unique index on a column full of duplicates fails, and stays as an INVALID index.
        var name = DatasetIndex.NameOf(_name, ["active"]);
        Assert.ThrowsAsync<Npgsql.PostgresException>(() => TestRun.Shared.Sandbox.ExecuteAsync(
            $"create unique index concurrently \"{name}\" on tenant_acme.\"{_name}\" (active)"));
        Assert.That(await IsValidIndexAsync(name), Is.False, "the failed build left an invalid index");

        using var accepted = await _acme.PostAsJsonAsync($"/v1/datasets/{_name}/indexes", new { columns = new[] { "active" } });
        Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await accepted.Content.ReadAsStringAsync());
        var jobId = (await accepted.Content.ReadFromJsonAsync<JsonObject>())!["jobId"]!.GetValue<Guid>();
        var job = await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "built", "failed", "cancelled");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("built"), job.ToJsonString());
        Assert.That(await IsValidIndexAsync(name), Is.True, "rebuilt, not taken for done by IF NOT EXISTS");
        Assert.That(await TestRun.Shared.Sandbox.ScalarAsync<bool>(
            "select i.indisunique from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = @name", ("name", name)),
            Is.False, "the service's index, not the one left behind");
    }

    [Test]
    public async Task Should_not_take_another_tables_index_of_the_same_name_for_its_own()
    {
        // An index of the very name the service will choose, on another table of the tenant's schema.
        var name = DatasetIndex.NameOf(_name, ["day"]);
        await TestRun.Shared.Sandbox.ExecuteAsync($"create table tenant_acme.\"{_name}_other\" (day date)");
        await TestRun.Shared.Sandbox.ExecuteAsync($"create index \"{name}\" on tenant_acme.\"{_name}_other\" (day)");

        using var accepted = await _acme.PostAsJsonAsync($"/v1/datasets/{_name}/indexes", new { columns = new[] { "day" } });
        Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await accepted.Content.ReadAsStringAsync());
        var jobId = (await accepted.Content.ReadFromJsonAsync<JsonObject>())!["jobId"]!.GetValue<Guid>();
        var job = await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "built", "failed", "cancelled");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("index_name_taken"));
        var described = await _acme.GetJsonAsync($"/v1/datasets/{_name}");
        Assert.That(described["indexes"]!.AsArray().Select(i => string.Join(",", i!.AsArray().Select(c => c!.GetValue<string>()))),
            Does.Not.Contain("day"), "an index the table does not have is not declared");
        Assert.That(await IsValidIndexAsync(name), Is.True, "the other table's index is left as it was");
    }

    [Test]
    public async Task Should_fail_as_table_busy_when_a_transaction_outlasts_the_lock_timeout()
    {
        // A write that stays open: CONCURRENTLY waits for it after creating its (invalid) index, and so does
        // the drop of what it left. Both waits are bounded by IndexBuilds:LockTimeout (5 s in the shared stack).
        await using var loader = await TestRun.Shared.Sandbox.Db.OpenConnectionAsync();
        await using var open = await loader.BeginTransactionAsync();
        await using (var insert = new Npgsql.NpgsqlCommand(
                         $"update tenant_acme.\"{_name}\" set note = note where id = 1", loader, open))
        {
            await insert.ExecuteNonQueryAsync();
        }

        using var accepted = await _acme.PostAsJsonAsync($"/v1/datasets/{_name}/indexes", new { columns = new[] { "ref" } });
        Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await accepted.Content.ReadAsStringAsync());
        var jobId = (await accepted.Content.ReadFromJsonAsync<JsonObject>())!["jobId"]!.GetValue<Guid>();
        var job = await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(40), "built", "failed", "cancelled");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("table_busy"));
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Does.Contain("IndexBuilds:LockTimeout"));
        await open.RollbackAsync();
    }

    [Test]
    public async Task Should_count_builds_not_yet_ended_against_the_most_indexes_a_dataset_may_have()
    {
        var many = "many_" + Guid.NewGuid().ToString("N")[..8];
        await _acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(many));
        await _acme.LoadAsync(many, ReadClient.Csv(When_dataset_rows_are_read.Header, Enumerable.Range(1, 20).Select(When_dataset_rows_are_read.Row)));
        string[][] indexes = [["name", "price"], ["name"], ["price"], ["qty"], ["active"], ["day"], ["at"], ["ref"], ["note"], ["name", "id"], ["price", "id"]];

        // Asked in a row, before the first build could end (an open write holds every build, which CONCURRENTLY
        // waits out; a 20-row build otherwise ends between two requests): only ten are accepted.
        var jobIds = new List<Guid>();
        HttpStatusCode? last = null;
        await using (var writer = await TestRun.Shared.Sandbox.Db.OpenConnectionAsync())
        await using (var open = await writer.BeginTransactionAsync())
        {
            await using (var update = new Npgsql.NpgsqlCommand($"update tenant_acme.\"{many}\" set note = note where id = 1", writer, open))
            {
                await update.ExecuteNonQueryAsync();
            }

            foreach (var columns in indexes)
            {
                using var response = await _acme.PostAsJsonAsync($"/v1/datasets/{many}/indexes", new { columns });
                last = response.StatusCode;
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    jobIds.Add((await response.Content.ReadFromJsonAsync<JsonObject>())!["jobId"]!.GetValue<Guid>());
                }
            }

            await open.RollbackAsync();
        }

        Assert.That(jobIds, Has.Count.EqualTo(10));
        Assert.That(last, Is.EqualTo(HttpStatusCode.Conflict));
        foreach (var jobId in jobIds)
        {
            await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "built", "failed", "cancelled");
        }

        var described = await _acme.GetJsonAsync($"/v1/datasets/{many}");
        Assert.That(described["indexes"]!.AsArray(), Has.Count.EqualTo(10));
    }

    [TestCase("""{"columns": ["nope"]}""", "columns", "'nope' is not one of the columns")]
    [TestCase("""{"columns": []}""", "columns", "at least one column")]
    [TestCase("""{"columns": ["qty", "qty"]}""", "columns", "more than once")]
    [TestCase("""{"columns": ["id\"; drop table x; --"]}""", "columns", "is not one of the columns")]
    public async Task Should_refuse_columns_the_dataset_does_not_have(string body, string field, string reason)
    {
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using var response = await _acme.PostAsync($"/v1/datasets/{_name}/indexes", content);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await response.ProblemAsync();
        Assert.That(problem["errors"]![field]![0]!.GetValue<string>(), Does.Contain(reason));
    }

    [Test]
    public async Task Should_not_let_another_tenant_index_the_dataset()
    {
        using var response = await _globex.PostAsJsonAsync($"/v1/datasets/{_name}/indexes", new { columns = new[] { "price" } });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(await TestRun.Shared.Sandbox.ScalarAsync<long>(
            "select count(*) from ingestion.jobs where kind = 'index-build' and dataset = @name and tenant_id <> 'acme'", ("name", _name)),
            Is.Zero);
    }

    private static async Task<bool?> IsValidIndexAsync(string name) =>
        await TestRun.Shared.Sandbox.ScalarAsync<bool?>(
            "select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = @name", ("name", name));
}
