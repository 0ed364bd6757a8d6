using Ingestion.Platform.Database;
using Ingestion.Platform.Datasets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ingestion.Platform.Tenancy;

public static class TenancyExtensions
{
    public static IHostApplicationBuilder AddIngestionTenancy(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<TenancyOptions>().BindConfiguration(TenancyOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<TenancyOptions>, TenancyOptionsValidator>();
        builder.Services.AddSingleton<IStartupDatabaseTask, TenantProvisioning>();
        builder.Services.AddSingleton<DatasetCatalog>();
        return builder;
    }
}
