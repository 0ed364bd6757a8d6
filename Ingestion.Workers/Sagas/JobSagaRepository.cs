using Ingestion.Platform.Jobs;
using MassTransit;
using MassTransit.Configuration;
using MassTransit.Context;
using MassTransit.Middleware;
using MassTransit.Saga;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Npgsql;

namespace Ingestion.Workers.Sagas;

/// <summary>
/// MassTransit's saga repository for jobs, on Npgsql (the EF Core and Dapper persistence
/// packages are not in our feed). Every message runs in its own transaction with the
/// job's row locked; the commands the state machine sends are written to the PostgreSQL
/// outbox in that transaction, and what it publishes leaves (through the endpoint's
/// in-memory outbox) only after that transaction commits.
/// </summary>
public sealed class JobSagaRepositoryContextFactory<TJob>(
    NpgsqlDataSource dataSource,
    ISagaConsumeContextFactory<JobSagaTransaction<TJob>, TJob> factory,
    FaultInjection faults)
    : ISagaRepositoryContextFactory<TJob>, ILoadSagaRepositoryContextFactory<TJob>
    where TJob : JobState
{
    private static readonly string Kind = JobSerializer.KindOf(typeof(TJob));

    public async Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<TJob, T>> next)
        where T : class
    {
        await using var transaction = await BeginAsync(context.CancellationToken);
        await next.Send(new JobSagaRepositoryContext<TJob, T>(transaction, context, factory));
        await transaction.CommitAsync(context.CancellationToken);
        faults.AfterSagaCommit(context.Message);
    }

    /// <summary>Jobs are correlated by id only; a query correlation would be a configuration mistake.</summary>
    public Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<TJob> query, IPipe<SagaRepositoryQueryContext<TJob, T>> next)
        where T : class =>
        throw new NotSupportedException($"{typeof(TJob).Name} events must be correlated by job id (CorrelateById).");

    public async Task<T> Execute<T>(Func<LoadSagaRepositoryContext<TJob>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class
    {
        await using var transaction = await BeginAsync(cancellationToken);
        var result = await asyncMethod(new JobLoadContext(transaction, cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    public void Probe(ProbeContext context) => context.Add("persistence", "npgsql");

    private async Task<JobSagaTransaction<TJob>> BeginAsync(CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            return new JobSagaTransaction<TJob>(connection, await connection.BeginTransactionAsync(cancellationToken), Kind);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private sealed class JobLoadContext(JobSagaTransaction<TJob> transaction, CancellationToken cancellationToken)
        : BasePipeContext(cancellationToken), LoadSagaRepositoryContext<TJob>
    {
        public async Task<TJob> Load(Guid correlationId) => (await transaction.LoadAsync(correlationId, CancellationToken))!;
    }
}

/// <summary>What MassTransit's saga pipe calls for one message, mapped onto the job's transaction.</summary>
public sealed class JobSagaRepositoryContext<TJob, TMessage> : ConsumeContextScope<TMessage>, SagaRepositoryContext<TJob, TMessage>
    where TJob : JobState
    where TMessage : class
{
    private readonly JobSagaTransaction<TJob> transaction;
    private readonly ConsumeContext<TMessage> consumeContext;
    private readonly ISagaConsumeContextFactory<JobSagaTransaction<TJob>, TJob> factory;

    public JobSagaRepositoryContext(JobSagaTransaction<TJob> transaction, ConsumeContext<TMessage> consumeContext,
        ISagaConsumeContextFactory<JobSagaTransaction<TJob>, TJob> factory)
        : base(consumeContext, transaction)
    {
        this.transaction = transaction;
        this.consumeContext = consumeContext;
        this.factory = factory;
    }

    /// <summary>The saga's context carries the transaction, so what the state machine sends can join it (SendThroughOutbox).</summary>
    public Task<SagaConsumeContext<TJob, T>> CreateSagaConsumeContext<T>(ConsumeContext<T> consumeContext, TJob instance,
        SagaConsumeContextMode mode)
        where T : class =>
        factory.CreateSagaConsumeContext(transaction, new ConsumeContextScope<T>(consumeContext, transaction), instance, mode);

    public Task<SagaConsumeContext<TJob, TMessage>> Add(TJob instance) =>
        factory.CreateSagaConsumeContext(transaction, this, instance, SagaConsumeContextMode.Add);

    /// <summary>Null when the job already exists; the pipe then loads it instead.</summary>
    public async Task<SagaConsumeContext<TJob, TMessage>> Insert(TJob instance) =>
        await transaction.TryInsertAsync(instance, CancellationToken) is not null
            ? await factory.CreateSagaConsumeContext(transaction, this, instance, SagaConsumeContextMode.Insert)
            : null!;

    /// <summary>Null when there is no such job, so the event's missing-instance policy applies.</summary>
    public async Task<SagaConsumeContext<TJob, TMessage>> Load(Guid correlationId) =>
        await transaction.LoadForUpdateAsync(correlationId, CancellationToken) is { } job
            ? await factory.CreateSagaConsumeContext(transaction, this, job, SagaConsumeContextMode.Load)
            : null!;

    /// <summary>
    /// Saves a job its first event created. If another message created it meanwhile, the
    /// conflict makes the message retry, and the retry finds the job and applies the event to it.
    /// </summary>
    public async Task Save(SagaConsumeContext<TJob> context)
    {
        var stored = await transaction.TryInsertAsync(context.Saga, CancellationToken)
            ?? throw new ConcurrencyException($"Job {context.Saga.CorrelationId} was created by a concurrent message.",
                typeof(TJob), context.Saga.CorrelationId);
        await RecordAsync("Initial", context.Saga, stored);
    }

    public async Task Update(SagaConsumeContext<TJob> context)
    {
        var from = transaction.StateBefore(context.Saga.CorrelationId);
        await RecordAsync(from, context.Saga, await transaction.UpdateAsync(context.Saga, CancellationToken));
    }

    /// <summary>What the change brings in this transaction, and the metrics counted once it commits.</summary>
    private async Task RecordAsync(string from, TJob job, string stored)
    {
        await JobChangeRecorder.RecordAsync(transaction.Connection, from, job, stored, consumeContext.Message, this, CancellationToken);
        var state = job.CurrentState;
        transaction.AfterCommit(() => JobChangeRecorder.Observe(from, job, state));
    }

    public Task Delete(SagaConsumeContext<TJob> context) => transaction.DeleteAsync(context.Saga, CancellationToken);

    public Task Discard(SagaConsumeContext<TJob> context) => Task.CompletedTask;

    public Task Undo(SagaConsumeContext<TJob> context) => Task.CompletedTask;
}

public static class JobSagaRepositoryExtensions
{
    /// <summary>Persists the state machine's jobs in <c>ingestion.jobs</c>.</summary>
    public static ISagaRegistrationConfigurator<TJob> JobRepository<TJob>(this ISagaRegistrationConfigurator<TJob> saga)
        where TJob : JobState
    {
        saga.Repository(repository =>
        {
            repository.TryAddSingleton<FaultInjection>();
            repository.RegisterLoadSagaRepository<TJob, JobSagaRepositoryContextFactory<TJob>>();
            repository.RegisterSagaRepository<TJob, JobSagaTransaction<TJob>,
                SagaConsumeContextFactory<JobSagaTransaction<TJob>, TJob>, JobSagaRepositoryContextFactory<TJob>>();
        });
        return saga;
    }
}
