using System.Text;
using Ingestion.Tests.Infrastructure;
using static Ingestion.Tests.EndToEnd.Chunks.ChunkedLoads;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// One worker with two consumers, one slot per tenant: a tenant's large file in many chunks takes
/// one consumer, and another tenant's file, sent later, gets the other instead of waiting for the
/// first file's every chunk.
/// </summary>
public sealed class When_two_tenants_load_large_files
{
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "chunkfair", new Dictionary<string, string>
    {
        ["Processing__ChunkBytes"] = "65536",
        ["Processing__ChunksInFlightPerJob"] = "2",
        ["Processing__BatchRows"] = "500",
        ["Processing__ConcurrentJobs"] = "2",
        ["Limits__ConcurrentJobsPerTenant"] = "1",
        ["Limits__SlotWait"] = "00:00:00.200",
    });

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_share_the_workers_between_the_tenants()
    {
        using var acme = _deployment.Client(Keys.Acme);
        using var globex = _deployment.Client(Keys.Globex);
        object[] columns = [new { name = "id", type = "bigint", required = true }, new { name = "payload", type = "text", required = true }];
        await CreateDatasetAsync(acme, "events", columns);
        await CreateDatasetAsync(globex, "events", columns);

        var big = await acme.StartUploadAsync("events", File(150_000));
        await WaitAsync(() => _deployment.Sandbox.ScalarAsync<long>(
            "select count(*) from ingestion.upload_chunks where job_id = @id and state = 'done'", ("id", big)), done => done >= 2);
        var small = await globex.StartUploadAsync("events", File(15_000));

        var smallJob = await globex.WaitForJobEndAsync(small, seconds: 240);
        var bigWhenSmallEnded = await acme.GetJsonAsync($"/v1/jobs/{big}");
        var bigJob = await acme.WaitForJobEndAsync(big, seconds: 240);

        Assert.That(smallJob["status"]!.GetValue<string>(), Is.EqualTo("completed"), smallJob.ToJsonString());
        Assert.That(bigJob["status"]!.GetValue<string>(), Is.EqualTo("completed"), bigJob.ToJsonString());
        Assert.That(bigWhenSmallEnded["status"]!.GetValue<string>(), Is.EqualTo("processing"),
            "the later, smaller file did not wait for the large one's chunks");
        Assert.That(await ChunksAsync(_deployment, small), Is.GreaterThan(5));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(*) from tenant_acme.events"), Is.EqualTo(150_000));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(*) from tenant_globex.events"), Is.EqualTo(15_000));
    }

    private static byte[] File(int rows)
    {
        var csv = new StringBuilder("id,payload\n");
        for (var i = 1; i <= rows; i++)
        {
            csv.Append(i).Append(",event number ").Append(i).Append(" with some padding\n");
        }

        return Encoding.UTF8.GetBytes(csv.ToString());
    }

    private static async Task WaitAsync(Func<Task<long>> read, Func<long, bool> until)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!until(await read()))
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the condition was not met within 120 s");
            await Task.Delay(20);
        }
    }
}
