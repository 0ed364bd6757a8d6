using System.Collections.Concurrent;
using Ingestion.Contracts.Jobs;
using MassTransit;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// Another service on the bus, as it would learn how its jobs ended: a queue of its own bound to the
/// generic job events, decoded from the wire into the contracts. Also its bus, to publish and to
/// send requests with.
/// </summary>
public sealed class JobOutcomeListener : IAsyncDisposable
{
    private readonly ConcurrentDictionary<Guid, ConcurrentQueue<IJobOutcome>> _outcomes = new();
    private readonly ConcurrentDictionary<Guid, ConcurrentQueue<IJobOutcome>> _anyOutcome = new();
    private IBusControl _bus = null!;

    public IBus Bus => _bus;

    public static async Task<JobOutcomeListener> StartAsync(Sandbox sandbox)
    {
        var listener = new JobOutcomeListener();
        var servers = sandbox.Servers;
        listener._bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(rabbit =>
        {
            rabbit.Host(servers.RabbitHost, (ushort)servers.RabbitPort, sandbox.VirtualHost, host =>
            {
                host.Username(servers.RabbitUser);
                host.Password(servers.RabbitPassword);
            });
            rabbit.ReceiveEndpoint(new TemporaryEndpointDefinition(), endpoint =>
            {
                endpoint.Handler<JobCompleted>(context => listener.Add(context.Message));
                endpoint.Handler<JobFailed>(context => listener.Add(context.Message));
                endpoint.Handler<JobCancelled>(context => listener.Add(context.Message));
            });

            // A service that takes every end with one consumer, of the interface the three share.
            rabbit.ReceiveEndpoint(new TemporaryEndpointDefinition(), endpoint =>
                endpoint.Handler<IJobOutcome>(context =>
                {
                    listener._anyOutcome.GetOrAdd(context.Message.JobId, _ => new ConcurrentQueue<IJobOutcome>()).Enqueue(context.Message);
                    return Task.CompletedTask;
                }));
        });
        await listener._bus.StartAsync();
        return listener;
    }

    /// <summary>Every outcome of the job received so far, in order of arrival.</summary>
    public IReadOnlyList<IJobOutcome> Of(Guid jobId) => _outcomes.TryGetValue(jobId, out var outcomes) ? outcomes.ToList() : [];

    /// <summary>The job's outcomes as a consumer of <see cref="IJobOutcome"/> received them.</summary>
    public IReadOnlyList<IJobOutcome> AsInterface(Guid jobId) => _anyOutcome.TryGetValue(jobId, out var outcomes) ? outcomes.ToList() : [];

    public async Task<T> WaitAsync<T>(Guid jobId, int seconds = 60)
        where T : class, IJobOutcome
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if (Of(jobId).OfType<T>().FirstOrDefault() is { } outcome)
            {
                return outcome;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"No {typeof(T).Name} for job {jobId} within {seconds} s; received: {string.Join(", ", Of(jobId).Select(o => o.GetType().Name))}");
        return null!;
    }

    public async ValueTask DisposeAsync() => await _bus.StopAsync();

    private Task Add(IJobOutcome outcome)
    {
        _outcomes.GetOrAdd(outcome.JobId, _ => new ConcurrentQueue<IJobOutcome>()).Enqueue(outcome);
        return Task.CompletedTask;
    }
}
