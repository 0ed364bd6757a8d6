using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>
/// Reads of a dataset larger than <c>Reads:UnindexedScanMaxRows</c> (1,000 in the shared
/// stack): filters an index serves run, others are refused with the index to declare; and a
/// client paging through it while a load adds rows sees every row that was there exactly once.
/// </summary>
public sealed class When_a_large_dataset_is_read
{
    private const int Rows = 3000;
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public void Connect() => _acme = TestRun.Shared.Client(Keys.Acme);

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    [Test]
    public async Task Should_refuse_an_unindexed_filter_naming_the_index_and_serve_an_indexed_one()
    {
        var name = "large_" + Guid.NewGuid().ToString("N")[..8];
        await _acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(name, [["at"]]));
        await _acme.LoadAsync(name, ReadClient.Csv(When_dataset_rows_are_read.Header,
            Enumerable.Range(1, Rows).Select(When_dataset_rows_are_read.Row)));

        using var refused = await _acme.GetAsync($"/v1/datasets/{name}/rows?qty=3&name[in]=item%201,item%202");
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await refused.ProblemAsync();
        Assert.That(problem["index"]!.AsArray().Select(c => c!.GetValue<string>()), Is.EqualTo(new[] { "qty", "name", "id" }));
        Assert.That(problem["detail"]!.GetValue<string>(), Does.Contain("[\"qty\", \"name\", \"id\"]").And.Contain("3,000 rows"));

        var indexed = await _acme.GetJsonAsync($"/v1/datasets/{name}/rows?at[gte]=2026-01-02T00:00:00Z&at[lt]=2026-01-03T00:00:00Z&qty=3");
        Assert.That(indexed["rows"]!.AsArray().Select(r => r!["id"]!.GetValue<int>()),
            Is.EqualTo(Enumerable.Range(24, 24).Where(i => i % 7 == 3).ToArray()));
        var byKey = await _acme.GetJsonAsync($"/v1/datasets/{name}/rows?id[in]=1,2999");
        Assert.That(byKey["rows"]!.AsArray(), Has.Count.EqualTo(2), "the key is an index too");
        var ordered = await _acme.GetJsonAsync($"/v1/datasets/{name}/rows?order=-at&limit=3");
        Assert.That(ordered["rows"]!.AsArray().Select(r => r!["id"]!.GetValue<int>()), Is.EqualTo(new[] { Rows, Rows - 1, Rows - 2 }));
    }

    [Test]
    public async Task Should_refuse_to_page_a_keyless_dataset_by_row_address_and_stream_it_instead()
    {
        var name = "keyless_" + Guid.NewGuid().ToString("N")[..8];
        var definition = JsonSerializer.SerializeToNode(When_dataset_rows_are_read.Definition(name, [["at"]]))!.AsObject();
        definition.Remove("key");
        await _acme.CreateDatasetAsync(definition);
        await _acme.LoadAsync(name, ReadClient.Csv(When_dataset_rows_are_read.Header,
            Enumerable.Range(1, Rows).Select(When_dataset_rows_are_read.Row)));

        // Each page would be "order by ctid limit n" over every remaining row: a sort of the table per page.
        using var refused = await _acme.GetAsync($"/v1/datasets/{name}/rows?limit=10");
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await refused.ProblemAsync();
        Assert.That(problem["title"]!.GetValue<string>(), Is.EqualTo("This dataset cannot be paged"));
        Assert.That(problem["detail"]!.GetValue<string>(), Does.Contain("3,000 rows and no key").And.Contain("NDJSON or CSV").And.Contain("key"));

        using var export = await _acme.ReadAsync($"/v1/datasets/{name}/rows?fields=id", "application/x-ndjson");
        Assert.That(export.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var lines = (await export.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Select(l => JsonNode.Parse(l)!["id"]!.GetValue<int>()).Order(), Is.EqualTo(Enumerable.Range(1, Rows)));

        var ordered = await _acme.GetJsonAsync($"/v1/datasets/{name}/rows?order=-at&limit=3");
        Assert.That(ordered["rows"]!.AsArray().Select(r => r!["id"]!.GetValue<int>()), Is.EqualTo(new[] { Rows, Rows - 1, Rows - 2 }),
            "an order a declared index serves still pages");
        var filtered = await _acme.GetJsonAsync($"/v1/datasets/{name}/rows?at[gte]=2026-01-02T00:00:00Z&at[lt]=2026-01-03T00:00:00Z&fields=id");
        Assert.That(filtered["rows"]!.AsArray().Select(r => r!["id"]!.GetValue<int>()).Order(), Is.EqualTo(Enumerable.Range(24, 24)),
            "so does a filter an index serves");
    }

    [Test]
    public async Task Should_visit_every_row_exactly_once_while_a_load_runs()
    {
        var name = "paged_" + Guid.NewGuid().ToString("N")[..8];
        await _acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(name));
        var before = Enumerable.Range(1, Rows).Select(i => i * 2).ToList();
        await _acme.LoadAsync(name, ReadClient.Csv(When_dataset_rows_are_read.Header, before.Select(When_dataset_rows_are_read.Row)));

        // Odd keys land between the pages' keys while the client pages through (batches of 500 commit one by one).
        var load = await _acme.StartUploadAsync(name, ReadClient.Csv(When_dataset_rows_are_read.Header,
            Enumerable.Range(0, Rows * 3).Select(i => When_dataset_rows_are_read.Row(i * 2 + 1))));
        var rows = await _acme.ReadAllPagesAsync($"/v1/datasets/{name}/rows?limit=100&fields=id", betweenPages: () => Task.Delay(25));
        var job = await _acme.WaitForJobEndAsync(load, 120);

        var ids = rows.Select(r => r["id"]!.GetValue<int>()).ToList();
        Assert.That(ids, Is.Unique, "no row twice");
        Assert.That(ids, Is.Ordered, "in key order");
        Assert.That(ids.Where(i => i % 2 == 0), Is.EqualTo(before), "every row that was there, once");
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"));
        TestContext.Out.WriteLine($"{ids.Count(i => i % 2 == 1)} rows of the concurrent load were seen too");
        var all = await _acme.ReadAllPagesAsync($"/v1/datasets/{name}/rows?limit=1000&fields=id");
        Assert.That(all, Has.Count.EqualTo(Rows * 4));
    }
}
