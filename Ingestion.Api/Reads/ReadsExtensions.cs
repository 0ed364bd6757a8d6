using Microsoft.Extensions.Options;
using Ingestion.Platform.Hosting;

namespace Ingestion.Api.Reads;

public static class ReadsExtensions
{
    /// <summary>The read API: its options, its own data source (<c>ConnectionStrings:Read</c>), cursors and budgets.</summary>
    public static WebApplicationBuilder AddIngestionReads(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<ReadOptions>(ReadOptions.Section);
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<ReadOptions>>().Value;
            return ReadDatabase.Create(builder.Configuration, sp.GetRequiredService<ILoggerFactory>(),
                builder.Environment.ApplicationName, options.WarmConnections, options.MaxConnections);
        });
        builder.Services.AddHostedService<ReadPoolWarmUp>();
        builder.Services.AddSingleton<ReadCatalog>();
        builder.Services.AddSingleton<RowCursor>();
        builder.Services.AddSingleton<ReadBudget>();
        return builder;
    }

    /// <summary>Spends the tenant's read budget (the one <see cref="ReadBudget"/> of the process) before the handler runs.</summary>
    public static TBuilder WithReadBudget<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter((context, next) =>
            context.HttpContext.RequestServices.GetRequiredService<ReadBudget>().InvokeAsync(context, next));
}
