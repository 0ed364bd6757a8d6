using System.Net.Http.Json;
using System.Text;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Processing;

/// <summary>Rows whose key is already in the table follow the dataset's policy.</summary>
public sealed class When_keys_collide
{
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public void Connect() => _acme = TestRun.Shared.Client(Keys.Acme);

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    [Test]
    public async Task Should_replace_existing_rows_when_the_dataset_upserts()
    {
        var name = "prices_" + Guid.NewGuid().ToString("N")[..8];
        (await _acme.PostAsJsonAsync("/v1/datasets", new
        {
            name,
            columns = new object[]
            {
                new { name = "sku", type = "varchar(20)" }, new { name = "price", type = "numeric(10,2)", required = true },
                new { name = "in_stock", type = "boolean" }, new { name = "since", type = "date" },
            },
            key = new[] { "sku" },
            onKeyConflict = "upsert",
        })).EnsureSuccessStatusCode();

        await LoadAsync(name, Enumerable.Range(1, 10).Select(i => $"SKU-{i},{i}.00,true,2026-01-01"));
        var second = await LoadAsync(name, Enumerable.Range(6, 10).Select(i => $"SKU-{i},{i}.99,no,2026-02-0{1 + i % 9}")
            .Append("SKU-15,0.50,yes,2026-03-01"));

        Assert.That(second["progress"]!["rowsRejected"]!.GetValue<long>(), Is.Zero);
        var rows = await TestRun.Shared.Sandbox.ScalarAsync<string[]>(
            $"select array_agg(sku || '=' || price || '/' || in_stock || '/' || since order by length(sku), sku) from tenant_acme.{name}");
        Assert.That(rows, Is.EqualTo(
            Enumerable.Range(1, 5).Select(i => $"SKU-{i}={i}.00/true/2026-01-01")
                .Concat(Enumerable.Range(6, 9).Select(i => $"SKU-{i}={i}.99/false/2026-02-0{1 + i % 9}"))
                .Append("SKU-15=0.50/true/2026-03-01")
                .OrderBy(r => r.Split('=')[0].Length).ThenBy(r => r.Split('=')[0], StringComparer.Ordinal)));
    }

    private async Task<System.Text.Json.Nodes.JsonNode> LoadAsync(string dataset, IEnumerable<string> rows)
    {
        var csv = Encoding.UTF8.GetBytes("sku,price,in_stock,since\n" + string.Join('\n', rows) + "\n");
        var job = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync(dataset, csv));
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        return job;
    }
}
