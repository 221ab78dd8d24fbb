import MotcuaPropertiesProvider from './MotcuaPropertiesProvider.jsx';

export default {
  __init__: ['motcuaPropertiesProvider'],
  motcuaPropertiesProvider: ['type', MotcuaPropertiesProvider],
};
