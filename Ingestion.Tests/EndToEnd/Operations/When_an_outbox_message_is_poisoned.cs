using System.Net;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Operations;

/// <summary>
/// An outbox row that cannot become a message (a type no contract has, a body that does not
/// fit its type) sits in front of everyone's work: every API and worker runs a relay. The relay
/// sets it aside with the reason and relays the rest; the operator sees it, fixes it and sends
/// it back.
/// </summary>
public sealed class When_an_outbox_message_is_poisoned
{
    private HttpClient _ops = null!;
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public void Connect()
    {
        _ops = OperationsRun.Stack.Client(Keys.Ops);
        _acme = OperationsRun.Stack.Client(Keys.Acme);
    }

    [OneTimeTearDown]
    public void Disconnect()
    {
        _ops.Dispose();
        _acme.Dispose();
    }

    [Test]
    public async Task Should_set_it_aside_with_its_error_and_relay_the_jobs_behind_it()
    {
        var unknown = await PoisonAsync("Ingestion.Contracts.Uploads.NoSuchCommand", """{"jobId": "5b0f3c7e-0000-4000-8000-000000000001"}""",
            "queue:upload-jobs");
        var malformed = await PoisonAsync("Ingestion.Contracts.Jobs.RetryJob", """{"jobId": "not-a-guid", "requestedBy": "someone"}""",
            "queue:upload-jobs");

        var job = await _acme.StartUploadAsync("transactions", new TestCsv().Transactions(20));
        var done = await _acme.WaitForJobEndAsync(job, 60);

        Assert.That(done["status"]!.GetValue<string>(), Is.EqualTo("completed"), done.ToJsonString());
        var listed = await PoisonedAsync(unknown);
        Assert.That(listed["messageType"]!.GetValue<string>(), Is.EqualTo("Ingestion.Contracts.Uploads.NoSuchCommand"));
        Assert.That(listed["destination"]!.GetValue<string>(), Is.EqualTo("queue:upload-jobs"));
        Assert.That(listed["error"]!.GetValue<string>(), Does.Contain("is not a contract"));
        Assert.That(listed["poisonedAt"]!.GetValue<DateTimeOffset>(), Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(2)));
        Assert.That((await PoisonedAsync(malformed))["error"]!.GetValue<string>(), Does.Contain("jobId"));
        Assert.That(await OperationsRun.Stack.Sandbox.ScalarAsync<long>("select count(*) from ingestion.outbox where id = any(@ids)",
            ("ids", new[] { unknown, malformed })), Is.EqualTo(0), "the relay no longer claims them");

        using var tenant = await _acme.GetAsync("/v1/ops/outbox");
        Assert.That(tenant.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), "operators only");
    }

    [Test]
    public async Task Should_keep_a_returned_command_waiting_without_holding_up_the_rows_behind_it()
    {
        // A well-formed command for a queue nobody has declared (a kind whose workers have not started):
        // RabbitMQ returns it, since sends are mandatory.
        var nowhere = await PoisonAsync("Ingestion.Contracts.Jobs.RetryJob",
            $$"""{"jobId": "{{Guid.NewGuid()}}", "requestedBy": "outbox test"}""", $"exchange:nobody-listens-{Guid.NewGuid():N}");

        var job = await _acme.StartUploadAsync("transactions", new TestCsv().Transactions(20));
        var done = await _acme.WaitForJobEndAsync(job, 60);

        Assert.That(done["status"]!.GetValue<string>(), Is.EqualTo("completed"), done.ToJsonString());
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (await OperationsRun.Stack.Sandbox.ScalarAsync<int>("select returned from ingestion.outbox where id = @id", ("id", nowhere)) == 0)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the relay never tried the returned command");
            await Task.Delay(200);
        }

        Assert.That(await ListedAsync(nowhere), Is.Null, "a command that may yet find its queue is not poison");
        await OperationsRun.Stack.Sandbox.ExecuteAsync("delete from ingestion.outbox where id = @id", ("id", nowhere));
    }

    [Test]
    public async Task Should_refuse_to_redeliver_it_until_fixed_then_relay_it()
    {
        var dataset = "poisoned_" + Guid.NewGuid().ToString("N")[..8];
        await OperationsRun.CreateRefusingDatasetAsync(_acme, "acme", dataset, "outbox test refused entry");
        await OperationsRun.Stack.Sandbox.ExecuteAsync($"insert into tenant_acme.{dataset}_refusals values (3)");
        var job = await _acme.StartUploadAsync(dataset, OperationsRun.Entries(1, 5));
        Assert.That((await _acme.WaitForJobEndAsync(job))["status"]!.GetValue<string>(), Is.EqualTo("failed"));

        // A retry whose body was mangled on its way into the outbox.
        var id = await PoisonAsync("Ingestion.Contracts.Jobs.RetryJob", """{"jobId": 42, "requestedBy": "outbox test"}""", "queue:upload-jobs");
        await PoisonedAsync(id);

        using (var early = await _ops.PostAsync($"/v1/ops/outbox/{id}/redeliver", null))
        {
            Assert.That(early.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), "still unreadable: it would only be set aside again");
            Assert.That((await early.ProblemAsync())["detail"]!.GetValue<string>(), Does.Contain("jobId"));
        }

        await OperationsRun.Stack.Sandbox.ExecuteAsync($"delete from tenant_acme.{dataset}_refusals");
        await OperationsRun.Stack.Sandbox.ExecuteAsync(
            "update ingestion.outbox_poisoned set body = jsonb_build_object('jobId', @job::text, 'requestedBy', 'outbox test') where id = @id",
            ("job", job), ("id", id));
        using (var redeliver = await _ops.PostAsync($"/v1/ops/outbox/{id}/redeliver", null))
        {
            var body = JsonNode.Parse(await redeliver.Content.ReadAsStringAsync())!;
            Assert.That(redeliver.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body.ToJsonString());
            Assert.That(body["messageType"]!.GetValue<string>(), Is.EqualTo("Ingestion.Contracts.Jobs.RetryJob"));
        }

        var done = await _acme.WaitForJobAsync(job, TimeSpan.FromSeconds(60), "completed");
        Assert.That(done["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(5), "the relayed retry ran the job");
        Assert.That(await ListedAsync(id), Is.Null, "it left the list");
        using var twice = await _ops.PostAsync($"/v1/ops/outbox/{id}/redeliver", null);
        Assert.That(twice.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "it was sent already");
    }

    /// <summary>Writes a row as a host's transaction would (with the NOTIFY that wakes the relays); returns its id.</summary>
    private static async Task<long> PoisonAsync(string type, string body, string destination)
    {
        var id = await OperationsRun.Stack.Sandbox.ScalarAsync<long>(
            "insert into ingestion.outbox (message_type, body, destination) values (@type, @body::jsonb, @destination) returning id",
            ("type", type), ("body", body), ("destination", destination));
        await OperationsRun.Stack.Sandbox.ExecuteAsync("notify ingestion_outbox");
        return id;
    }

    /// <summary>The row as the operator's listing shows it, once a relay has set it aside.</summary>
    private async Task<JsonNode> PoisonedAsync(long id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            if (await ListedAsync(id) is { } row)
            {
                return row;
            }

            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), $"outbox row {id} was never listed as poisoned");
            await Task.Delay(200);
        }
    }

    private async Task<JsonNode?> ListedAsync(long id) =>
        (await _ops.GetJsonAsync("/v1/ops/outbox?limit=500"))["messages"]!.AsArray().SingleOrDefault(m => m!["id"]!.GetValue<long>() == id);
}
