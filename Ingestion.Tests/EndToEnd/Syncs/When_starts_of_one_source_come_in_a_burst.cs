using Ingestion.Contracts.Syncs;
using Ingestion.Platform.Database;
using Ingestion.Platform.Jobs;
using Ingestion.Tests.Infrastructure;
using MassTransit;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Syncs;

/// <summary>
/// Starts of one source's sync on a real PostgreSQL (a database of its own, no hosts), through a pool
/// smaller than the burst: the starts that wait for the source's lock hold every connection but the
/// holder's, so the holder must check and create on the one it has.
/// </summary>
public sealed class When_starts_of_one_source_come_in_a_burst
{
    private const int PoolSize = 3;

    private Sandbox _sandbox = null!;
    private NpgsqlDataSource _pool = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _sandbox = await MigratedSandbox.CreateAsync("starts");
        _pool = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(_sandbox.ConnectionString) { MaxPoolSize = PoolSize, Timeout = 5 }.ConnectionString);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _pool.DisposeAsync();
        await _sandbox.DisposeAsync();
    }

    [Test]
    public async Task Should_create_one_job_and_name_it_to_every_other_start_without_running_out_of_connections()
    {
        var jobs = new JobStore(_pool);
        var starts = await Task.WhenAll(Enumerable.Range(0, PoolSize * 3).Select(_ => Task.Run(() => StartAsync(jobs))))
            .WaitAsync(TimeSpan.FromSeconds(30));

        var created = starts.Where(s => s.Creation == JobCreation.Created).ToList();
        Assert.That(created, Has.Count.EqualTo(1), "one job");
        var job = await _sandbox.ScalarAsync<Guid>("select job_id from ingestion.jobs where kind = 'sync' and data ->> 'source' = 'burst'");
        Assert.That(starts.Where(s => s.Creation is null).Select(s => s.Running).ToList(), Has.Count.EqualTo(starts.Length - 1).And.All.EqualTo(job),
            "every other start names it");
    }

    private static Task<SyncStart> StartAsync(JobStore jobs)
    {
        var now = DateTimeOffset.UtcNow;
        var job = new SyncJob
        {
            CorrelationId = NewId.NextGuid(),
            CurrentState = SyncJob.States.Queued,
            TenantId = "acme",
            CreatedAt = now,
            UpdatedAt = now,
            Source = "burst",
            TargetDataset = "burst",
            Mode = "full",
        };
        return SyncStarts.StartAsync(jobs, job, new SubmitSync(job.CorrelationId, job.TenantId, job.Source, job.Mode), "test", null,
            CancellationToken.None);
    }
}
