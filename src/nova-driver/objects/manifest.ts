/**
 * Object versions of Nova Zed (26.x) and which objects each one can contain, as
 * `object_class_action_versions` needs them: the conductor serializes its answer at the
 * versions in this manifest (nova/conductor/manager.py object_class_action_versions).
 * Versions as seen on the Zed wire (../shared/reference/nova-zed-traces).
 */
export const ZED_OBJECT_VERSIONS: Readonly<Record<string, string>> = {
  BlockDeviceMapping: '1.21', BlockDeviceMappingList: '1.18', ComputeNode: '1.19', ComputeNodeList: '1.17', ConsoleAuthToken: '1.1',
  DeviceBus: '1.0', DeviceMetadata: '1.0', EC2Ids: '1.0', Flavor: '1.2', HVSpec: '1.2', Instance: '2.7',
  InstanceActionEvent: '1.4', InstanceDeviceMetadata: '1.0', InstanceFault: '1.2', InstanceInfoCache: '1.5',
  InstanceList: '2.6', InstanceNUMACell: '1.6', InstanceNUMATopology: '1.3', InstancePCIRequest: '1.4',
  InstancePCIRequests: '1.1', KeyPair: '1.4', KeyPairList: '1.3', Migration: '1.7', MigrationContext: '1.2',
  MigrationList: '1.5', PciDevice: '1.7', PciDeviceList: '1.3', PciDevicePool: '1.1', PciDevicePoolList: '1.1',
  Resource: '1.0', ResourceList: '1.0', ResourceMetadata: '1.0', SecurityGroup: '1.2', SecurityGroupList: '1.1',
  Service: '1.22', ServiceList: '1.19', Tag: '1.1', TagList: '1.1', TrustedCerts: '1.0', VirtCPUFeature: '1.0',
  VirtCPUModel: '1.0', VirtCPUTopology: '1.0', VirtualInterface: '1.3', VirtualInterfaceList: '1.0',
};

/** Object-valued fields of each object, by class name. */
const CHILDREN: Readonly<Record<string, readonly string[]>> = {
  BlockDeviceMapping: ['Instance'],
  BlockDeviceMappingList: ['BlockDeviceMapping'],
  ComputeNode: ['HVSpec', 'PciDevicePoolList'],
  ComputeNodeList: ['ComputeNode'],
  DeviceMetadata: ['DeviceBus'],
  Instance: ['ServiceList', 'InstanceInfoCache', 'SecurityGroupList', 'InstanceFault', 'PciDeviceList',
    'InstanceNUMATopology', 'InstancePCIRequests', 'InstanceDeviceMetadata', 'TagList', 'Flavor', 'VirtCPUModel',
    'EC2Ids', 'MigrationContext', 'ResourceList', 'KeyPairList', 'TrustedCerts'],
  InstanceDeviceMetadata: ['DeviceMetadata'],
  InstanceList: ['Instance'],
  InstanceNUMACell: ['VirtCPUTopology'],
  InstanceNUMATopology: ['InstanceNUMACell'],
  InstancePCIRequests: ['InstancePCIRequest'],
  KeyPairList: ['KeyPair'],
  MigrationList: ['Migration'],
  PciDeviceList: ['PciDevice'],
  PciDevicePoolList: ['PciDevicePool'],
  Resource: ['ResourceMetadata'],
  ResourceList: ['Resource'],
  SecurityGroupList: ['SecurityGroup'],
  Service: ['ComputeNode'],
  ServiceList: ['Service'],
  TagList: ['Tag'],
  VirtCPUModel: ['VirtCPUFeature'],
  VirtualInterfaceList: ['VirtualInterface'],
};

export function objectVersion(name: string): string {
  const v = ZED_OBJECT_VERSIONS[name];
  if (v === undefined) throw new Error(`no known version for Nova object ${name}`);
  return v;
}

/** obj_tree_get_versions: the object and everything reachable from it, name -> version. */
export function objectManifest(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (name: string): void => {
    if (name in out) return;
    out[name] = objectVersion(name);
    for (const child of CHILDREN[name] ?? []) visit(child);
  };
  visit(root);
  return out;
}
